"""A transitional-care programme offered at discharge, targeted by a rule, judged in the world.

Each month of the period, up to ``capacity`` of the patients discharged alive are enrolled, picked
by one of three rules: the readmission champion's risk (highest first), LACE >= the threshold
(highest score first; fewer than the capacity when fewer qualify) or at random. Patients are ranked
within their month of discharge (a hospital would set the month's cut-off from the months before;
ranking within the month spares that step and favours no rule).

The world's truth says what the programme is worth: every index stay's true probability of an
unplanned readmission within 30 days (the oracle) and the programme's true effect
(``relative_reduction``: an enrolled patient who would have been readmitted is not, with that
probability). Readmissions avoided are their expectation (the effect times the true risks of the
enrolled) with the 95% interval of the count a period would realise (each enrolled patient
readmitted with the true risk and helped with the effect, drawn independently, as many draws as
the penalty's posterior has: ``finance.readmission_penalty.draws``). What the champion
itself promises (the effect times its predicted risks) is shown beside the truth.

Money, per year (the period's figures scaled by 12 over its months):

- readmission costs avoided: the mean cost of the period's readmission stays, per readmission
  avoided;
- payments forgone: what payers would have paid for those stays, the hospital's revenue under
  fee-for-service (shown, not netted: it is the payer's saving);
- the HRRP penalty's fall: each facility's excess readmission ratio for each condition falls by
  the share of its index stays' true risk the programme removes (the benchmark, CMS's national
  one, does not move with one system's programme), through ``finance.readmissions``, its posterior
  draws paired with the programme's;
- the programme's cost: enrolments times ``cost_per_patient_usd``;
- net: costs avoided plus the penalty's fall, less the programme's cost.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from configs import Settings, vocabulary
from configs.decisions import SeedClaims, TransitionalCare
from configs.finance import ReadmissionPenalty
from decisions import RISK, DecisionError, period_folder, period_rows
from features import build
from finance import readmissions

RULES = ("champion", "lace", "random")
LABEL, TRUE_RISK, LACE = "readmitted_30d", "oracle_p_readmit_30d", "lace_score"
CHUNK = 200  # draws simulated at a time (draws x enrolled uniform numbers)


def enrol(
    stays: pd.DataFrame, rule: str, capacity: int, lace_threshold: int, seed: int
) -> np.ndarray:
    """Which stays a rule enrols: in each month of discharge, the first ``capacity`` of the
    stays it accepts, in its order (ties in a seeded random order)."""
    if rule not in RULES:
        raise DecisionError(f"unknown targeting rule {rule!r}: choose one of {', '.join(RULES)}")
    tiebreak = np.random.default_rng(seed).random(len(stays))
    accepted = np.ones(len(stays), dtype=bool)
    if rule == "champion":
        key = stays[RISK].to_numpy(dtype=float)
    elif rule == "lace":
        key = stays[LACE].to_numpy(dtype=float)
        accepted = key >= lace_threshold
    else:
        key = tiebreak
    order = pd.DataFrame(
        {
            "month": stays["prediction_time"].dt.to_period("M").to_numpy(),
            "key": -key,
            "tie": tiebreak,
        }
    )[accepted]
    rank = order.sort_values(["month", "key", "tie"]).groupby("month").cumcount()
    enrolled = np.zeros(len(stays), dtype=bool)
    enrolled[rank.index[rank.to_numpy() < capacity]] = True
    return enrolled


@dataclass(frozen=True)
class Prices:
    """What one readmission costs the hospital, and what payers pay for it (means over the
    period's readmission stays)."""

    cost_usd: float
    payment_usd: float


def readmission_prices(clean: dict[str, pd.DataFrame], window_days: int) -> Prices:
    """The mean cost and payment (allowed amount) of the stays that were unplanned readmissions
    within ``window_days`` of an index stay's discharge."""
    e = clean["encounters"]
    following = build.next_unplanned_admission(e)
    gap = (following["admitted_at"] - e["discharged_at"]).dt.total_seconds() / 86_400
    index = ~e["discharge_disposition"].isin([vocabulary.EXPIRED, "transfer"])
    keys = following.loc[index & (gap <= window_days), "encounter_key"].unique()
    readmitted = e[e["encounter_key"].isin(keys)]
    if readmitted.empty:
        raise DecisionError("the period holds no readmission stay to price")
    allowed = clean["claims"].set_index("encounter_key")["allowed_usd"]
    return Prices(
        float(readmitted["total_cost_usd"].mean()),
        float(readmitted["encounter_key"].map(allowed).mean()),
    )


def avoided_draws(true_risk: np.ndarray, effect: float, draws: int, seed: int) -> np.ndarray:
    """Readmissions a period would see avoided, per draw: each enrolled patient readmitted with
    the true risk and helped with the programme's effect."""
    rng = np.random.default_rng(seed)
    chance = np.asarray(true_risk, dtype=float) * effect
    counts = [
        (rng.random((min(CHUNK, draws - start), len(chance))) < chance).sum(axis=1)
        for start in range(0, draws, CHUNK)
    ]
    return np.concatenate(counts).astype(float)


@dataclass(frozen=True)
class Penalty:
    """The HRRP records of the period and the ratios fitted on them: the programme scales the
    ratios; the records and rules price them."""

    records: readmissions.Records
    ratios: readmissions.Ratios
    rules: ReadmissionPenalty

    @property
    def draws(self) -> int:
        return self.rules.draws

    @functools.cached_property
    def _current(self) -> tuple[pd.Series, pd.DataFrame, np.ndarray]:
        """The penalty shares as they are (point, per draw), and each facility's weight in
        dollars: its base payments, nothing for an exempt one. The same for every programme."""
        before, before_draws = readmissions.penalty_shares(self.ratios, self.records, self.rules)
        facilities = self.records.facilities.set_index("facility_id")
        in_program = ~facilities["type"].isin(readmissions.EXEMPT_TYPES).reindex(before.index)
        base = self.records.payments.groupby("facility_id")["owed_usd"].sum()
        weight = base.reindex(before.index, fill_value=0.0).to_numpy() * in_program.to_numpy()
        return before, before_draws, weight

    def fall_usd(self, factors: dict[tuple[str, int], float]) -> tuple[float, np.ndarray]:
        """The fall of the penalties, in dollars over the program's facilities, when each
        (condition, facility) ratio is multiplied by its factor: point value and per draw."""
        before, before_draws, weight = self._current
        table = self.ratios.table.copy()
        keys = list(zip(table["condition"], table["facility_id"], strict=True))
        table["excess_ratio"] *= [factors.get(k, 1.0) for k in keys]
        scaled = readmissions.Ratios(
            table, {k: d * factors.get(k, 1.0) for k, d in self.ratios.draws.items()}
        )
        after, after_draws = readmissions.penalty_shares(scaled, self.records, self.rules)
        point = float(((before - after).to_numpy() * weight).sum())
        per_draw = ((before_draws - after_draws).to_numpy() * weight[:, None]).sum(axis=0)
        return point, per_draw


def ratio_factors(
    stays: pd.DataFrame, enrolled: np.ndarray, index: pd.DataFrame, effect: float
) -> dict[tuple[str, int], float]:
    """Per HRRP (condition, facility): one less the share of its index stays' true risk that the
    programme removes (the effect times the enrolled stays' share of that risk)."""
    risk = stays.set_index("encounter_key")[TRUE_RISK]
    chosen = stays.loc[enrolled, "encounter_key"]
    cohort = index[["condition", "facility_id", "encounter_key"]].assign(
        risk=index["encounter_key"].map(risk).to_numpy(),
        enrolled=index["encounter_key"].isin(chosen).to_numpy(),
    )
    cohort = cohort.dropna(subset=["risk"])
    cohort["removed"] = cohort["risk"] * cohort["enrolled"] * effect
    sums = cohort.groupby(["condition", "facility_id"])[["risk", "removed"]].sum()
    return {
        (str(condition), int(facility)): 1.0 - row.removed / row.risk
        for (condition, facility), row in sums.iterrows()
        if row.risk > 0
    }


@dataclass(frozen=True)
class Enrolment:
    """One rule at one capacity: whom it enrols, their true risks, the penalty's fall (point and
    per draw) and the programme's cost, for the whole period."""

    enrolled: np.ndarray
    true_risk: np.ndarray
    penalty_fall: float
    penalty_draws: np.ndarray
    cost_usd: float


def enrolment(
    stays: pd.DataFrame, rule: str, capacity: int, care: TransitionalCare, penalty: Penalty
) -> Enrolment:
    enrolled = enrol(stays, rule, capacity, care.lace_threshold, care.seed)
    fall, draws = penalty.fall_usd(
        ratio_factors(stays, enrolled, penalty.records.index, care.relative_reduction)
    )
    return Enrolment(
        enrolled,
        stays.loc[enrolled, TRUE_RISK].to_numpy(dtype=float),
        fall,
        draws,
        enrolled.sum() * care.cost_per_patient_usd,
    )


def _interval(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def evaluate(
    stays: pd.DataFrame,
    care: TransitionalCare,
    prices: Prices,
    penalty: Penalty,
    months: int,
) -> pd.DataFrame:
    """Each rule at each capacity: enrolments, readmissions avoided (truth, interval, and what the
    champion promises), the money per year with intervals, and the net."""
    per_year = 12 / months
    expected_readmissions = float(stays[TRUE_RISK].sum())
    rows = []
    for capacity in care.capacities_per_month:
        for rule in RULES:
            chosen = enrolment(stays, rule, capacity, care, penalty)
            enrolled, true_risk = chosen.enrolled, chosen.true_risk
            penalty_fall, penalty_draws = chosen.penalty_fall, chosen.penalty_draws
            programme_cost = chosen.cost_usd
            draws = avoided_draws(true_risk, care.relative_reduction, penalty.draws, care.seed)
            avoided = care.relative_reduction * true_risk.sum()
            net_draws = draws * prices.cost_usd + penalty_draws - programme_cost
            rows.append(
                {
                    "rule": rule,
                    "capacity_per_month": capacity,
                    "enrolled_per_month": enrolled.sum() / months,
                    "readmissions_avoided": avoided * per_year,
                    **_bounds("readmissions_avoided", draws * per_year),
                    "promised_by_champion": care.relative_reduction
                    * stays.loc[enrolled, RISK].sum()
                    * per_year,
                    "reduction": avoided / expected_readmissions,
                    **_bounds("reduction", draws / expected_readmissions),
                    "costs_avoided_usd": avoided * prices.cost_usd * per_year,
                    **_bounds("costs_avoided_usd", draws * prices.cost_usd * per_year),
                    "payments_forgone_usd": avoided * prices.payment_usd * per_year,
                    "penalty_fall_usd": penalty_fall * per_year,
                    **_bounds("penalty_fall_usd", penalty_draws * per_year),
                    "programme_cost_usd": programme_cost * per_year,
                    "net_usd": (avoided * prices.cost_usd + penalty_fall - programme_cost)
                    * per_year,
                    **_bounds("net_usd", net_draws * per_year),
                }
            )
    return pd.DataFrame(rows)


def _bounds(name: str, draws: np.ndarray) -> dict[str, float]:
    low, high = _interval(draws)
    return {f"{name}_low": low, f"{name}_high": high}


def capacity_curve(
    stays: pd.DataFrame,
    care: TransitionalCare,
    prices: Prices,
    penalty: Penalty,
    months: int,
    capacities: list[int],
) -> pd.DataFrame:
    """Expected reduction of readmissions and net money per year of each rule over a range of
    capacities (the truth's expectation, no draws): where each rule reaches a goal."""
    per_year = 12 / months
    expected_readmissions = float(stays[TRUE_RISK].sum())
    rows = []
    for rule in RULES:
        for capacity in capacities:
            chosen = enrolment(stays, rule, capacity, care, penalty)
            enrolled, true_risk = chosen.enrolled, float(chosen.true_risk.sum())
            avoided = care.relative_reduction * true_risk
            fall, cost = chosen.penalty_fall, chosen.cost_usd
            rows.append(
                {
                    "rule": rule,
                    "capacity_per_month": capacity,
                    "enrolled_per_month": enrolled.sum() / months,
                    "enrolled_true_risk": true_risk,
                    "reduction": avoided / expected_readmissions,
                    "net_usd": (avoided * prices.cost_usd + fall - cost) * per_year,
                }
            )
    curve = pd.DataFrame(rows)
    return curve.assign(share_of_risk=curve["enrolled_true_risk"] / expected_readmissions)


def capacity_grid(stays: pd.DataFrame, step: int = 25) -> list[int]:
    """Monthly capacities by ``step`` up to the busiest month's discharges (everyone enrolled)."""
    busiest = int(stays["prediction_time"].dt.to_period("M").value_counts().max())
    return list(range(step, busiest + step, step))


def seed_claims(curve: pd.DataFrame, claims: SeedClaims, effect: float) -> pd.DataFrame:
    """Per rule: the smallest monthly capacity at which the programme's true effect reduces
    readmissions by the claimed share, the largest net a year over the capacities and where, and
    the effect the claimed reduction would need at the capacity of the best net."""
    rows = []
    for rule, points in curve.groupby("rule", sort=False):
        reaching = points[points["reduction"] >= claims.readmission_reduction]
        best = points.loc[points["net_usd"].idxmax()]
        rows.append(
            {
                "rule": rule,
                "capacity_for_reduction": (
                    int(reaching["capacity_per_month"].min()) if len(reaching) else None
                ),
                "largest_reduction": float(points["reduction"].max()),
                "best_net_usd": float(best["net_usd"]),
                "best_net_capacity": int(best["capacity_per_month"]),
                "reaches_savings": bool(best["net_usd"] >= claims.annual_savings_usd),
                "effect_for_reduction_at_best": (
                    claims.readmission_reduction / best["share_of_risk"]
                    if best["share_of_risk"] > 0
                    else np.nan
                ),
                "effect": effect,
            }
        )
    return pd.DataFrame(rows)


def load(settings: Settings, data_dir: Path) -> tuple[pd.DataFrame, Prices, Penalty]:
    """The period's index stays with the champion's risk, the price of a readmission, and the
    HRRP records and ratios of the period's own stays."""
    stays = period_rows(settings, "readmission", data_dir)
    clean_dir = period_folder(settings, data_dir) / "clean"
    start = pd.Timestamp(settings.data_gen.end_date)
    rules = settings.finance.readmission_penalty
    tables = {
        name: pd.read_parquet(clean_dir / f"{name}.parquet") for name in ("encounters", "claims")
    }
    tables["encounters"] = tables["encounters"][tables["encounters"]["admitted_at"] >= start]
    prices = readmission_prices(tables, rules.window_days)
    records = readmissions.load_records(clean_dir, settings).between(start, None)
    ratios = readmissions.excess_readmission_ratios(records.index, rules)
    return stays, prices, Penalty(records, ratios, rules)
