-- Length of stay in days, by facility and month of discharge, with totals.
WITH stays AS (
    SELECT f.name AS facility,
           date_trunc('month', e.discharged_at) AS month,
           CAST(extract(epoch FROM (e.discharged_at - e.admitted_at)) AS DOUBLE PRECISION) / 86400
               AS los_days
    FROM encounters e
    JOIN facilities f ON f.facility_id = e.facility_id
)
SELECT facility,
       month,
       count(*) AS stays,
       avg(los_days) AS los_mean_days,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY los_days) AS los_median_days,
       var_samp(los_days) AS los_variance_days2
FROM stays
GROUP BY CUBE (facility, month)
ORDER BY facility NULLS LAST, month NULLS LAST
