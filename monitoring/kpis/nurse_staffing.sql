-- Nurse staffing: patients per registered nurse, RN hours per patient day, the share of shifts
-- above the unit's ratio target, the overtime and agency shares of the nurses who worked, and the
-- nursing cost per patient day, by facility, unit and month of the shift, with totals.
WITH shifts AS (
    SELECT f.name AS facility,
           s.unit,
           date_trunc('month', s.shift_start) AS month,
           c.census,
           CAST(s.worked_rn AS DOUBLE PRECISION) AS worked_rn,
           s.rn_hours,
           CAST(s.overtime_rn AS DOUBLE PRECISION) AS overtime_rn,
           CAST(s.agency_rn AS DOUBLE PRECISION) AS agency_rn,
           s.cost_usd,
           CASE WHEN c.census > r.safe_patients_per_nurse * greatest(s.worked_rn, 1) + 1e-9
                THEN 1.0 ELSE 0.0 END AS unsafe
    FROM nurse_staffing s
    JOIN shift_census c
      ON c.facility_id = s.facility_id AND c.unit = s.unit AND c.shift_start = s.shift_start
    JOIN ratio_targets r ON r.unit = s.unit
    JOIN facilities f ON f.facility_id = s.facility_id
)
SELECT facility,
       unit,
       month,
       count(*) AS shifts,
       sum(census) / 2 AS patient_days,
       sum(census) / nullif(sum(worked_rn), 0) AS patients_per_nurse,
       sum(rn_hours) / nullif(sum(census) / 2, 0) AS rn_hours_per_patient_day,
       avg(unsafe) AS unsafe_shift_rate,
       sum(overtime_rn) / nullif(sum(worked_rn), 0) AS overtime_share,
       sum(agency_rn) / nullif(sum(worked_rn), 0) AS agency_share,
       sum(cost_usd) / nullif(sum(census) / 2, 0) AS nursing_cost_per_patient_day_usd
FROM shifts
GROUP BY CUBE (facility, unit, month)
ORDER BY facility NULLS LAST, unit NULLS LAST, month NULLS LAST
