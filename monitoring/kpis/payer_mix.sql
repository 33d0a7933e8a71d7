-- Payer mix: each payer's share of the stays and of the revenue, by facility and for the system.
WITH by_payer AS (
    SELECT f.name AS facility,
           c.payer,
           count(*) AS stays,
           sum(c.paid_usd) AS revenue_usd
    FROM encounters e
    JOIN claims c ON c.encounter_key = e.encounter_key
    JOIN facilities f ON f.facility_id = e.facility_id
    GROUP BY GROUPING SETS ((f.name, c.payer), (c.payer))
)
SELECT facility,
       payer,
       stays,
       revenue_usd,
       CAST(stays AS DOUBLE PRECISION) / sum(stays) OVER (PARTITION BY facility) AS share_of_stays,
       revenue_usd / sum(revenue_usd) OVER (PARTITION BY facility) AS share_of_revenue
FROM by_payer
ORDER BY facility NULLS LAST, payer
