-- Emergency department day by day: visits, the median minutes from arrival to a provider of the
-- patients seen that day, and the share who left without being seen, by facility and day of
-- arrival (and for the whole system each day): leaving rises with the wait.
WITH visits AS (
    SELECT f.name AS facility,
           CAST(date_trunc('day', v.arrival_at) AS DATE) AS day,
           CAST(extract(epoch FROM (v.provider_at - v.arrival_at)) AS DOUBLE PRECISION) / 60
               AS wait_minutes,
           CASE WHEN v.disposition = 'left_without_being_seen' THEN 1.0 ELSE 0.0 END AS lwbs
    FROM ed_visits v
    JOIN facilities f ON f.facility_id = v.facility_id
)
SELECT facility,
       day,
       count(*) AS visits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_minutes) AS wait_median_minutes,
       avg(lwbs) AS left_without_being_seen_rate
FROM visits
GROUP BY GROUPING SETS ((facility, day), (day))
ORDER BY facility NULLS LAST, day
