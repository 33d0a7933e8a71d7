-- Patient satisfaction (0-10) and net promoter score (percentage of 9-10 minus percentage of
-- 0-6, among those who answered), by facility, ward unit and month of discharge, with totals.
SELECT f.name AS facility,
       e.ward_unit AS unit,
       date_trunc('month', e.discharged_at) AS month,
       count(e.satisfaction_score) AS responses,
       avg(e.satisfaction_score) AS satisfaction_mean,
       100.0 * (avg(CASE WHEN e.satisfaction_score >= 9 THEN 1.0
                         WHEN e.satisfaction_score IS NOT NULL THEN 0.0 END)
                - avg(CASE WHEN e.satisfaction_score <= 6 THEN 1.0
                           WHEN e.satisfaction_score IS NOT NULL THEN 0.0 END)) AS net_promoter_score
FROM encounters e
JOIN facilities f ON f.facility_id = e.facility_id
GROUP BY CUBE (f.name, e.ward_unit, date_trunc('month', e.discharged_at))
ORDER BY facility NULLS LAST, unit NULLS LAST, month NULLS LAST
