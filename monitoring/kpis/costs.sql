-- Cost per encounter and per patient (USD), by facility and month of discharge and by payer,
-- with totals.
SELECT f.name AS facility,
       date_trunc('month', e.discharged_at) AS month,
       p.payer,
       count(*) AS encounters,
       count(DISTINCT e.patient_key) AS patients,
       sum(e.total_cost_usd) AS total_cost_usd,
       avg(e.total_cost_usd) AS cost_per_encounter_usd,
       sum(e.total_cost_usd) / count(DISTINCT e.patient_key) AS cost_per_patient_usd
FROM encounters e
JOIN patients p ON p.patient_key = e.patient_key
JOIN facilities f ON f.facility_id = e.facility_id
GROUP BY GROUPING SETS (
    (f.name, date_trunc('month', e.discharged_at)), (f.name), (date_trunc('month', e.discharged_at)),
    (p.payer), (p.payer, f.name), ()
)
ORDER BY payer NULLS LAST, facility NULLS LAST, month NULLS LAST
