-- Revenue (what the payers and patients paid), cost and contribution margin, by facility and
-- month of discharge, by payer and by principal-diagnosis group, with totals; per stay, as a share
-- of revenue, and with the case-mix index (mean DRG weight, of all stays and of Medicare's alone),
-- the share of claims first denied and the share of what was owed that was never paid.
WITH stays AS (
    SELECT f.name AS facility,
           date_trunc('month', e.discharged_at) AS month,
           c.payer,
           coalesce(g.diagnosis_group, 'other') AS diagnosis_group,
           e.total_cost_usd,
           c.charges_usd,
           c.allowed_usd,
           c.paid_usd,
           c.drg_weight,
           CASE WHEN c.initially_denied THEN 1.0 ELSE 0.0 END AS denied
    FROM encounters e
    JOIN claims c ON c.encounter_key = e.encounter_key
    JOIN facilities f ON f.facility_id = e.facility_id
    LEFT JOIN diagnosis_groups g ON g.code = e.primary_dx_code
)
SELECT facility,
       month,
       payer,
       diagnosis_group,
       count(*) AS stays,
       sum(charges_usd) AS charges_usd,
       sum(paid_usd) AS revenue_usd,
       sum(total_cost_usd) AS cost_usd,
       sum(paid_usd) - sum(total_cost_usd) AS margin_usd,
       (sum(paid_usd) - sum(total_cost_usd)) / nullif(sum(paid_usd), 0) AS margin_share,
       sum(paid_usd) / count(*) AS revenue_per_stay_usd,
       (sum(paid_usd) - sum(total_cost_usd)) / count(*) AS margin_per_stay_usd,
       avg(drg_weight) AS case_mix_index,
       avg(CASE WHEN payer = 'medicare' THEN drg_weight END) AS medicare_case_mix_index,
       avg(denied) AS denied_share,
       1 - sum(paid_usd) / nullif(sum(allowed_usd), 0) AS unpaid_share
FROM stays
GROUP BY GROUPING SETS (
    (facility, month), (facility), (month), (payer), (payer, facility), (diagnosis_group), ()
)
ORDER BY payer NULLS LAST, diagnosis_group NULLS LAST, facility NULLS LAST, month NULLS LAST
