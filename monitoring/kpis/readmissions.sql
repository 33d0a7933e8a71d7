-- Unplanned readmission within 30, 60 and 90 days of a discharge alive (transfers out excluded),
-- by facility and month of the index discharge, with totals. As in the feature tables: the next
-- urgent or emergency admission of the patient. A month counts for a window only when the data
-- follow every stay discharged in it for the whole window: its rate is blank until then, so that
-- a month's 30-, 60- and 90-day rates rest on the same stays; each rate carries the stays it rests
-- on (the totals gather the months each window has followed).
WITH ordered AS (
    SELECT e.*,
           min(CASE WHEN e.admission_type <> 'elective' THEN e.admitted_at END) OVER (
               PARTITION BY e.patient_key ORDER BY e.admitted_at
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
           ) AS next_unplanned_at,
           max(e.admitted_at) OVER () AS data_end
    FROM encounters e
),
index_stays AS (
    SELECT f.name AS facility,
           date_trunc('month', o.discharged_at) AS month,
           CAST(extract(epoch FROM (o.next_unplanned_at - o.discharged_at)) AS DOUBLE PRECISION)
               / 86400 AS gap_days,
           CAST(extract(epoch FROM (
               o.data_end - (date_trunc('month', o.discharged_at) + INTERVAL '1 month')
           )) AS DOUBLE PRECISION) / 86400 AS month_followed_days
    FROM ordered o
    JOIN facilities f ON f.facility_id = o.facility_id
    WHERE o.discharge_disposition NOT IN ('expired', 'transfer')
)
SELECT facility,
       month,
       count(*) AS index_stays,
       sum(CASE WHEN month_followed_days >= 30 THEN 1 ELSE 0 END) AS followed_30d_stays,
       avg(CASE WHEN month_followed_days >= 30
                THEN CASE WHEN gap_days <= 30 THEN 1.0 ELSE 0.0 END END) AS readmitted_30d_rate,
       sum(CASE WHEN month_followed_days >= 60 THEN 1 ELSE 0 END) AS followed_60d_stays,
       avg(CASE WHEN month_followed_days >= 60
                THEN CASE WHEN gap_days <= 60 THEN 1.0 ELSE 0.0 END END) AS readmitted_60d_rate,
       sum(CASE WHEN month_followed_days >= 90 THEN 1 ELSE 0 END) AS followed_90d_stays,
       avg(CASE WHEN month_followed_days >= 90
                THEN CASE WHEN gap_days <= 90 THEN 1.0 ELSE 0.0 END END) AS readmitted_90d_rate
FROM index_stays
GROUP BY CUBE (facility, month)
ORDER BY facility NULLS LAST, month NULLS LAST
