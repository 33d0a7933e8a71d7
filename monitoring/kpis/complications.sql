-- Complication rate of the stays in which each procedure was performed, overall and by facility,
-- with the rate over all stays with any procedure.
WITH procedure_stays AS (
    SELECT DISTINCT p.encounter_key, p.code, p.description
    FROM procedures p
)
SELECT f.name AS facility,
       s.code AS procedure_code,
       s.description AS procedure,
       count(*) AS stays,
       avg(CASE WHEN e.complication THEN 1.0 ELSE 0.0 END) AS complication_rate
FROM procedure_stays s
JOIN encounters e ON e.encounter_key = s.encounter_key
JOIN facilities f ON f.facility_id = e.facility_id
GROUP BY GROUPING SETS ((s.code, s.description), (s.code, s.description, f.name), ())
ORDER BY procedure_code NULLS LAST, facility NULLS LAST
