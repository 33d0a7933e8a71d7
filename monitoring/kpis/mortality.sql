-- In-hospital mortality, by facility and month of discharge, with totals: observed deaths,
-- expected deaths (the sum of each stay's risk from the risk-adjustment model) and their ratio
-- with a 95% interval (Byar's approximation to the Poisson interval of the observed count).
WITH stays AS (
    SELECT f.name AS facility,
           date_trunc('month', e.discharged_at) AS month,
           CASE WHEN e.discharge_disposition = 'expired' THEN 1.0 ELSE 0.0 END AS died,
           m.expected_death
    FROM encounters e
    JOIN facilities f ON f.facility_id = e.facility_id
    JOIN expected_mortality m ON m.encounter_key = e.encounter_key
),
totals AS (
    SELECT facility, month, count(*) AS stays, sum(died) AS observed, sum(expected_death) AS expected
    FROM stays
    GROUP BY CUBE (facility, month)
)
SELECT facility,
       month,
       stays,
       observed AS observed_deaths,
       expected AS expected_deaths,
       observed / stays AS mortality_rate,
       observed / expected AS observed_to_expected,
       CASE WHEN observed = 0 THEN 0.0 ELSE
           observed * power(1 - 1 / (9 * observed) - 1.96 / (3 * sqrt(observed)), 3) / expected
       END AS observed_to_expected_low,
       (observed + 1) * power(1 - 1 / (9 * (observed + 1)) + 1.96 / (3 * sqrt(observed + 1)), 3)
           / expected AS observed_to_expected_high
FROM totals
ORDER BY facility NULLS LAST, month NULLS LAST
