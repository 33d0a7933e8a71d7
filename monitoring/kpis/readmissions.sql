-- Unplanned readmission within 30, 60 and 90 days of a discharge alive (transfers out excluded),
-- by facility and month of the index discharge, with totals. As in the feature tables: the next
-- urgent or emergency admission of the patient; a stay counts for a window only when the data
-- follow it for the whole window.
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
           CAST(extract(epoch FROM (o.data_end - o.discharged_at)) AS DOUBLE PRECISION) / 86400
               AS followed_days
    FROM ordered o
    JOIN facilities f ON f.facility_id = o.facility_id
    WHERE o.discharge_disposition NOT IN ('expired', 'transfer')
)
SELECT facility,
       month,
       count(*) AS index_stays,
       avg(CASE WHEN followed_days >= 30 THEN CASE WHEN gap_days <= 30 THEN 1.0 ELSE 0.0 END END)
           AS readmitted_30d_rate,
       avg(CASE WHEN followed_days >= 60 THEN CASE WHEN gap_days <= 60 THEN 1.0 ELSE 0.0 END END)
           AS readmitted_60d_rate,
       avg(CASE WHEN followed_days >= 90 THEN CASE WHEN gap_days <= 90 THEN 1.0 ELSE 0.0 END END)
           AS readmitted_90d_rate
FROM index_stays
GROUP BY CUBE (facility, month)
ORDER BY facility NULLS LAST, month NULLS LAST
