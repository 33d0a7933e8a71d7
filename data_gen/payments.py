"""What each stay is charged, what its payer owes and what the hospital collects: the claims.

One claim per stay. Its MS-DRG-like weight comes from the stay's diagnosis group (or the surgical
DRG of its procedure) and its severity tier: an MCC or CC among the secondary diagnoses coded on
the stay (CMS's lists, ``finance.cc_codes`` and ``finance.mcc_codes``), or a deterioration coded as
an MCC. Medicare pays the weight times the national base rate and the hospital's multiplier (a
critical access hospital is paid a share of its cost instead); Medicaid a share of Medicare;
commercial insurers a share of charges; an uninsured patient pays the discounted bill, or does not.
A payer first denies some claims; some of those are recovered on appeal, the rest written off.

Payment draws from its own random stream (``PAYMENT_STREAM`` and the block's number), after the
stays are simulated and recorded, so every other table is the same with or without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.data_gen import Finance
from configs.vocabulary import DRG_SEVERITIES
from data_gen.stays import Stays
from data_gen.world import HOURS_PER_DAY, WorldPlan, at, sigmoid

PAYMENT_STREAM = 2**32 + 1
CLAIM_ID_OFFSET = 7 * 10**12  # claim numbers are the billing system's, not the stay's number


def claims_tables(
    plan: WorldPlan,
    block_number: int,
    s: Stays,
    payer: np.ndarray,
    encounter_id: np.ndarray,
    diagnoses: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The claims of the stays ``s`` (raw) and each claim's true chance of being paid (oracle)."""
    c = plan.config
    f = c.finance
    n = len(encounter_id)
    rng = np.random.default_rng(
        np.random.SeedSequence(c.seed, spawn_key=(PAYMENT_STREAM, block_number))
    )
    # Every draw is made for every stay, in this order, so one stay's payer never moves another's.
    charge_noise = rng.normal(0.0, f.charge_sigma, n) - f.charge_sigma**2 / 2
    deterioration_coded = rng.random(n) < f.deterioration_mcc_probability
    denial_rate = pd.Series(payer).map(f.denial_rate).to_numpy(dtype=float)
    denied = rng.random(n) < denial_rate
    recovered = rng.random(n) < f.denial_recovered_share
    self_pay_paid = rng.random(n) < f.self_pay_paid_probability
    lag_days = rng.lognormal(np.log(f.billing_lag_days), 0.5, n)
    acute_mcc = rng.random(n) < sigmoid(
        f.acute_mcc_intercept + f.acute_mcc_per_state * s.start_state
    )

    mcc = acute_mcc | (pd.notna(s.event_type) & deterioration_coded)
    tier = np.maximum(_coded_tier(f, encounter_id, diagnoses), np.where(mcc, 2, 0))
    weight = plan.groups["drg_weights"][s.group, s.procedure_slot, tier]
    charges = s.cost_usd * f.charge_to_cost_ratio * np.exp(charge_noise)
    allowed = _allowed(plan, s, payer, weight, charges)
    self_pay = payer == "self_pay"
    paid = np.where(self_pay, self_pay_paid, ~denied | recovered)
    p_paid = np.where(
        self_pay,
        f.self_pay_paid_probability,
        1.0 - denial_rate * (1.0 - f.denial_recovered_share),
    )
    billed_h = s.admit_h + s.los_h + lag_days * HOURS_PER_DAY
    claims = pd.DataFrame(
        {
            "claim_id": CLAIM_ID_OFFSET + encounter_id,
            "encounter_id": encounter_id,
            "payer": payer,
            "billed_at": at(plan, billed_h),
            "drg_severity": np.array(DRG_SEVERITIES, dtype=object)[tier],
            "drg_weight": weight,
            "charges_usd": np.round(charges, 2),
            "allowed_usd": np.round(allowed, 2),
            "initially_denied": denied & ~self_pay,
            "paid_usd": np.round(np.where(paid, allowed, 0.0), 2),
        }
    )
    oracle = pd.DataFrame(
        {
            "encounter_id": encounter_id,
            "p_paid": p_paid,
            "expected_paid_usd": p_paid * allowed,
        }
    )
    return claims, oracle


def _coded_tier(f: Finance, encounter_id: np.ndarray, diagnoses: pd.DataFrame) -> np.ndarray:
    """The severest tier among each stay's secondary diagnoses (0 none, 1 CC, 2 MCC)."""
    tiers = {code: 1 for code in f.cc_codes} | {code: 2 for code in f.mcc_codes}
    secondary = diagnoses[diagnoses["encounter_id"].duplicated()]  # the principal comes first
    tier = secondary["code"].map(tiers).fillna(0).astype(np.int64)
    per_stay = tier.groupby(secondary["encounter_id"]).max()
    return per_stay.reindex(encounter_id, fill_value=0).to_numpy()


def _allowed(
    plan: WorldPlan, s: Stays, payer: np.ndarray, weight: np.ndarray, charges: np.ndarray
) -> np.ndarray:
    """What the payer's contract says it owes for each stay."""
    f = plan.config.finance
    types = [facility.type for facility in plan.config.facilities]
    kind = np.array(types)[s.facility]
    multiplier = np.array([f.medicare_multiplier.get(t, 0.0) for t in types])[s.facility]
    medicare = np.where(
        kind == "critical_access",
        f.critical_access_cost_share * s.cost_usd,
        f.medicare_base_rate_usd * f.price_level * multiplier * weight,
    )
    return np.select(
        [payer == "medicare", payer == "medicaid", payer == "commercial"],
        [
            medicare,
            f.medicaid_share_of_medicare * medicare,
            f.commercial_share_of_charges * charges,
        ],
        f.self_pay_share_of_charges * charges,
    )
