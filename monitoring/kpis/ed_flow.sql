-- Emergency department flow by triage level: visits, the median minutes from arrival to triage,
-- to the first provider and to leaving the ED, the share admitted and the share who left without
-- being seen, and for admitted patients the median hours boarding (from the decision to admit to
-- leaving for the ward), by facility and ESI level, with totals.
WITH visits AS (
    SELECT f.name AS facility,
           v.esi_level,
           CAST(extract(epoch FROM (v.triage_at - v.arrival_at)) AS DOUBLE PRECISION) / 60
               AS to_triage_minutes,
           CAST(extract(epoch FROM (v.provider_at - v.arrival_at)) AS DOUBLE PRECISION) / 60
               AS to_provider_minutes,
           CAST(extract(epoch FROM (v.departure_at - v.arrival_at)) AS DOUBLE PRECISION) / 60
               AS to_departure_minutes,
           CAST(extract(epoch FROM (v.departure_at - v.admit_decision_at)) AS DOUBLE PRECISION)
               / 3600 AS boarding_hours,
           CASE WHEN v.disposition = 'admitted' THEN 1.0 ELSE 0.0 END AS admitted,
           CASE WHEN v.disposition = 'left_without_being_seen' THEN 1.0 ELSE 0.0 END AS lwbs
    FROM ed_visits v
    JOIN facilities f ON f.facility_id = v.facility_id
)
SELECT facility,
       esi_level,
       count(*) AS visits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_triage_minutes) AS triage_median_minutes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_provider_minutes) AS provider_median_minutes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_departure_minutes)
           AS departure_median_minutes,
       avg(admitted) AS admitted_rate,
       avg(lwbs) AS left_without_being_seen_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY boarding_hours) AS boarding_median_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY boarding_hours) AS boarding_p90_hours
FROM visits
GROUP BY CUBE (facility, esi_level)
ORDER BY facility NULLS LAST, esi_level NULLS LAST
