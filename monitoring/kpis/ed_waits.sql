-- Emergency department: minutes from arrival to the first provider (median and 90th
-- percentile, over the patients seen) and the share who left without being seen, by facility and
-- month of arrival, with totals.
WITH visits AS (
    SELECT f.name AS facility,
           date_trunc('month', v.arrival_at) AS month,
           CAST(extract(epoch FROM (v.provider_at - v.arrival_at)) AS DOUBLE PRECISION) / 60
               AS wait_minutes,
           CASE WHEN v.disposition = 'left_without_being_seen' THEN 1.0 ELSE 0.0 END AS lwbs
    FROM ed_visits v
    JOIN facilities f ON f.facility_id = v.facility_id
)
SELECT facility,
       month,
       count(*) AS visits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_minutes) AS wait_median_minutes,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY wait_minutes) AS wait_p90_minutes,
       avg(lwbs) AS left_without_being_seen_rate
FROM visits
GROUP BY CUBE (facility, month)
ORDER BY facility NULLS LAST, month NULLS LAST
