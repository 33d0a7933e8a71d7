-- Bed utilisation (occupied bed-days over staffed bed-days) and occupancy peaks (the highest
-- midnight census over staffed beds), by facility and month, over the days of the calendar,
-- with totals.
WITH occupancy AS (
    SELECT c.day,
           c.month,
           f.facility_id,
           f.name AS facility,
           f.staffed_beds,
           -- (LEAST and GREATEST skip NULLs: a day without patients must add nothing.)
           coalesce(sum(CASE WHEN e.encounter_key IS NOT NULL THEN
               CAST(extract(epoch FROM (least(e.discharged_at, c.day + INTERVAL '1 day')
                                        - greatest(e.admitted_at, c.day))) AS DOUBLE PRECISION)
           END) / 86400, 0) AS bed_days,
           count(CASE WHEN e.admitted_at <= c.day THEN 1 END) AS midnight_census
    FROM calendar_days c
    CROSS JOIN facilities f
    LEFT JOIN encounters e
      ON e.facility_id = f.facility_id
     AND e.admitted_at < c.day + INTERVAL '1 day'
     AND e.discharged_at > c.day
    GROUP BY c.day, c.month, f.facility_id, f.name, f.staffed_beds
)
SELECT facility,
       month,
       count(*) AS facility_days,
       sum(bed_days) / sum(staffed_beds) AS utilisation,
       max(midnight_census * 1.0 / staffed_beds) AS peak_occupancy,
       max(midnight_census) AS peak_midnight_census
FROM occupancy
GROUP BY CUBE (facility, month)
ORDER BY facility NULLS LAST, month NULLS LAST
