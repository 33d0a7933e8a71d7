-- Treatment success by protocol (per facility, per month of discharge) and by facility and month,
-- with totals.
SELECT f.name AS facility,
       date_trunc('month', e.discharged_at) AS month,
       e.treatment_protocol AS protocol,
       count(*) AS stays,
       avg(CASE WHEN e.treatment_success THEN 1.0 ELSE 0.0 END) AS success_rate
FROM encounters e
JOIN facilities f ON f.facility_id = e.facility_id
GROUP BY GROUPING SETS (
    (e.treatment_protocol, f.name), (e.treatment_protocol, date_trunc('month', e.discharged_at)),
    (e.treatment_protocol), (f.name, date_trunc('month', e.discharged_at)),
    (date_trunc('month', e.discharged_at)), (f.name), ()
)
ORDER BY protocol NULLS LAST, facility NULLS LAST, month NULLS LAST
