"""The Hospital Readmissions Reduction Program's measure and penalty, computed as CMS does.

For each condition (``finance.readmission_penalty.conditions``) the index stays are those of the
program's payer and age, discharged alive, neither transferred to another hospital nor against
medical advice, and followed for the whole window. A hierarchical logistic regression of
unplanned readmission within the window on the patient's risk factors, with a random intercept
per hospital, is fitted across the hospitals (statsmodels' ``BinomialBayesMixedGLM``, variational
Bayes). A hospital's **excess readmission ratio** is its predicted readmissions (its own intercept)
over its expected ones (the average hospital's intercept) for its own patients; intervals come
from draws of its intercept's posterior. CMS then reduces the hospital's base DRG payments by
``min(cap, Σ_c payments_c · max(ERR_c − 1, 0) / all base payments)``, over the conditions with at
least ``min_index_stays`` stays; critical access hospitals are not in the program.

Where this departs from CMS: the benchmark is this system's average hospital, not the nation's
(so an excess shared by every hospital of the system does not show); each ratio is compared
with 1, not with the median of a peer group of hospitals with as many dual-eligible patients
(peer groups mean nothing among a handful of hospitals), and there is no budget-neutrality
modifier; the risk factors are age, sex, the Charlson conditions present on admission and the
admissions and ED visits of the year before, rather than CMS's condition categories; the base
payments are what Medicare owed for the stays, add-ons included.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from configs import Settings
from configs.finance import ReadmissionPenalty
from features import build, cases, engine, partitions, scores
from features.interactions import KnowledgeBase
from finance import FinanceError

RISK_FACTORS = (
    "age_years",
    "female",
    *(f"cm_{name}" for name in scores.CHARLSON_CONDITIONS),
    "prior_admissions_12m",
    "ed_visits_6m",
)
EXEMPT_TYPES = ("critical_access",)


class PenaltyError(FinanceError):
    """Records on which the penalty cannot be computed (no index stays, an unknown facility)."""


def index_stays(
    clean: dict[str, pd.DataFrame],
    settings: Settings,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """One row per index stay and condition (a stay may count for two, AMI and CABG): the
    facility, whether the patient was readmitted, what Medicare owed, and the risk factors."""
    e, rules = clean["encounters"], settings.finance.readmission_penalty
    readmitted = build.readmission_labels(e, [rules.window_days], data_end).iloc[:, 0]
    payer = e["patient_key"].map(clean["patients"].set_index("patient_key")["payer"])
    eligible = (
        (payer == rules.payer)
        & (e["age_years"] >= rules.min_age_years)
        & readmitted.notna()
        & (e["discharge_disposition"] != "ama")
    ).to_numpy()
    procedures = clean["procedures"]
    stays = build.admission_cases(clean, settings.features)
    risk = cases.admission_features(stays, KnowledgeBase.of(settings))
    owed = e["encounter_key"].map(clean["claims"].set_index("encounter_key")["allowed_usd"])
    parts = []
    for condition, cohort in rules.conditions.items():
        if cohort.diagnosis_prefixes:
            member = e["primary_dx_code"].str.startswith(tuple(cohort.diagnosis_prefixes))
        else:
            done = procedures["code"].str.startswith(tuple(cohort.procedure_prefixes))
            member = e["encounter_key"].isin(procedures.loc[done, "encounter_key"])
        if cohort.elective_only:
            member &= e["admission_type"] == "elective"
        rows = np.flatnonzero(eligible & member.to_numpy())
        parts.append(
            pd.DataFrame(
                {
                    "condition": condition,
                    "encounter_key": e["encounter_key"].to_numpy()[rows],
                    "facility_id": e["facility_id"].to_numpy()[rows],
                    "discharged_at": e["discharged_at"].to_numpy()[rows],
                    "readmitted": readmitted.to_numpy()[rows].astype(bool),
                    "owed_usd": owed.to_numpy()[rows],
                }
            ).join(risk[list(RISK_FACTORS)].iloc[rows].reset_index(drop=True))
        )
    return pd.concat(parts, ignore_index=True)


def base_payments(clean: dict[str, pd.DataFrame], rules: ReadmissionPenalty) -> pd.DataFrame:
    """Per stay billed to the program's payer: its facility, discharge and what was owed (the
    base payments that the penalty reduces)."""
    claims = clean["claims"][clean["claims"]["payer"] == rules.payer]
    stays = clean["encounters"].set_index("encounter_key")
    return pd.DataFrame(
        {
            "facility_id": claims["encounter_key"].map(stays["facility_id"]).to_numpy(),
            "discharged_at": claims["encounter_key"].map(stays["discharged_at"]).to_numpy(),
            "owed_usd": claims["allowed_usd"].to_numpy(),
        }
    )


@dataclass(frozen=True)
class Records:
    """What the penalty is computed from: the index stays, the base payments, the facilities."""

    index: pd.DataFrame
    payments: pd.DataFrame
    facilities: pd.DataFrame

    def between(self, since: pd.Timestamp | None, until: pd.Timestamp | None) -> Records:
        """The records of the stays discharged from ``since`` up to ``until`` (either open)."""
        if since is not None and until is not None and since > until:
            raise PenaltyError(
                f"the period starts ({since:%Y-%m-%d}) after it ends ({until:%Y-%m-%d})"
            )

        def kept(frame: pd.DataFrame) -> pd.DataFrame:
            at = frame["discharged_at"]
            inside = pd.Series(True, index=frame.index)
            if since is not None:
                inside &= at >= since
            if until is not None:
                inside &= at < until + pd.Timedelta(days=1)
            return frame[inside]

        index = kept(self.index)
        if index.empty:
            first, last = self.index["discharged_at"].min(), self.index["discharged_at"].max()
            raise PenaltyError(
                f"no index stays discharged between {since or first:%Y-%m-%d} and "
                f"{until or last:%Y-%m-%d} (the records hold {first:%Y-%m-%d} to {last:%Y-%m-%d})"
            )
        return Records(index, kept(self.payments), self.facilities)


def load_records(clean_dir: Path, settings: Settings) -> Records:
    """The index stays and base payments of every partition of ``clean_dir`` (data/clean)."""
    needed = ("encounters", "patients", "claims", "diagnoses", "procedures", "facilities")
    if missing := [t for t in needed if not (clean_dir / f"{t}.parquet").exists()]:
        raise FileNotFoundError(
            f"no clean {', '.join(missing)} in {clean_dir}: run `make etl` first"
        )
    encounters = clean_dir / "encounters.parquet"
    data_end = pd.read_parquet(encounters, columns=["admitted_at"])["admitted_at"].max()
    work = functools.partial(_records_part, clean_dir, settings, data_end)
    parts = engine.map_partitions(
        work, list(range(partitions.part_count(encounters))), settings.engine, "finance-hrrp"
    )
    return Records(
        pd.concat([index for index, _ in parts], ignore_index=True),
        pd.concat([payments for _, payments in parts], ignore_index=True),
        pd.read_parquet(clean_dir / "facilities.parquet"),
    )


def _records_part(
    clean_dir: Path, settings: Settings, data_end: pd.Timestamp, part: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean = partitions.read_part(clean_dir, part)
    rules = settings.finance.readmission_penalty
    return index_stays(clean, settings, data_end), base_payments(clean, rules)


@dataclass(frozen=True)
class Ratios:
    """Excess readmission ratios per condition and facility, and the posterior draws behind their
    intervals ([condition, facility_id] -> draws)."""

    table: pd.DataFrame
    draws: dict[tuple[str, int], np.ndarray]


def excess_readmission_ratios(index: pd.DataFrame, rules: ReadmissionPenalty) -> Ratios:
    """Each facility's excess readmission ratio for each condition, with its interval."""
    if index.empty:
        raise PenaltyError("no index stays for any condition: nothing to measure")
    rng = np.random.default_rng(rules.seed)
    tail = (1 - rules.coverage) / 2
    rows, draws = [], {}
    for condition, stays in index.groupby("condition", sort=False):
        facilities = np.sort(stays["facility_id"].unique())
        # Every stay readmitted, or none: no risk model to fit, no ratio to count.
        estimable = stays["readmitted"].nunique() > 1
        if estimable:
            linear, intercepts = _fit(stays, facilities)
        for f, facility_id in enumerate(facilities):
            mine = (stays["facility_id"] == facility_id).to_numpy()
            row = {
                "condition": condition,
                "facility_id": int(facility_id),
                "index_stays": int(mine.sum()),
                "readmissions": int(stays.loc[mine, "readmitted"].sum()),
                "observed_rate": float(stays.loc[mine, "readmitted"].mean()),
                **dict.fromkeys(NOT_ESTIMATED, np.nan),
                "counted": False,
            }
            if estimable:
                mean, sd = intercepts[f]
                drawn = rng.normal(mean, sd, rules.draws)
                expected = expit(linear[mine]).sum()
                predicted = expit(linear[mine] + mean).sum()
                ratio_draws = expit(linear[mine][None, :] + drawn[:, None]).sum(axis=1) / expected
                draws[(condition, int(facility_id))] = ratio_draws
                row |= {
                    "predicted": float(predicted),
                    "expected": float(expected),
                    "excess_ratio": float(predicted / expected),
                    "excess_ratio_low": float(np.quantile(ratio_draws, tail)),
                    "excess_ratio_high": float(np.quantile(ratio_draws, 1 - tail)),
                    "counted": bool(mine.sum() >= rules.min_index_stays),
                }
            rows.append(row)
    return Ratios(pd.DataFrame(rows), draws)


NOT_ESTIMATED = ("predicted", "expected", "excess_ratio", "excess_ratio_low", "excess_ratio_high")


def _fit(stays: pd.DataFrame, facilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The risk model's linear predictor at the average hospital for every stay, and each
    facility's intercept (posterior mean, sd) around it."""
    risk = stays[list(RISK_FACTORS)].astype(float)
    risk = risk.fillna(risk.median()).fillna(0.0)
    varying = risk.columns[risk.std() > 0]
    x = ((risk[varying] - risk[varying].mean()) / risk[varying].std()).to_numpy()
    exog = np.column_stack([np.ones(len(stays)), x])
    membership = (stays["facility_id"].to_numpy()[:, None] == facilities[None, :]).astype(float)
    model = BinomialBayesMixedGLM(
        stays["readmitted"].to_numpy(dtype=float),
        exog,
        membership,
        np.zeros(len(facilities), dtype=int),
    )
    # The evidence bound is a sum over stays: a gradient tolerance of 1e-4 is tight enough.
    fit = model.fit_vb(minim_opts={"gtol": 1e-4, "maxiter": 1000})
    return exog @ fit.fe_mean, np.column_stack([fit.vc_mean, fit.vc_sd])


def penalty_shares(
    ratios: Ratios, records: Records, rules: ReadmissionPenalty
) -> tuple[pd.Series, pd.DataFrame]:
    """Each facility's payment reduction as a share of its base payments: the point value (by
    facility_id) and one per draw of the ratios (facilities by draws); zero where no condition
    counts, the exemption of critical access hospitals left to the caller."""
    counted = ratios.table[ratios.table["counted"]]
    owed = records.index.groupby(["condition", "facility_id"])["owed_usd"].sum()
    base_by_facility = records.payments.groupby("facility_id")["owed_usd"].sum()
    ids = records.facilities["facility_id"].to_numpy()
    points, draws = np.zeros(len(ids)), np.zeros((len(ids), rules.draws))
    for f, facility_id in enumerate(ids):
        base = float(base_by_facility.get(facility_id, 0.0))
        excess, point = np.zeros(rules.draws), 0.0
        for row in counted[counted["facility_id"] == facility_id].itertuples():
            paid = owed[(row.condition, facility_id)]
            excess += paid * np.maximum(ratios.draws[(row.condition, facility_id)] - 1, 0)
            point += paid * max(row.excess_ratio - 1, 0)
        # Every payment counted is part of the base payments: with none, there is no excess.
        draws[f] = np.minimum(rules.penalty_cap, excess / base) if base > 0 else excess
        points[f] = min(rules.penalty_cap, point / base) if base > 0 else 0.0
    return pd.Series(points, index=ids), pd.DataFrame(draws, index=ids)


def penalties(ratios: Ratios, records: Records, rules: ReadmissionPenalty) -> pd.DataFrame:
    """Each facility's payment reduction (share of its base payments, and dollars) with its
    interval and the chance that it is penalised at all; critical access hospitals are exempt."""
    tail = (1 - rules.coverage) / 2
    counted = ratios.table[ratios.table["counted"]]
    base_by_facility = records.payments.groupby("facility_id")["owed_usd"].sum()
    point, draws = penalty_shares(ratios, records, rules)
    table = pd.DataFrame(
        {
            "facility_id": records.facilities["facility_id"].to_numpy(),
            "facility": records.facilities["name"].to_numpy(),
            "in_program": ~records.facilities["type"].isin(EXEMPT_TYPES).to_numpy(),
            "conditions_counted": [
                int((counted["facility_id"] == f).sum()) for f in records.facilities["facility_id"]
            ],
            "base_payments_usd": [
                float(base_by_facility.get(f, 0.0)) for f in records.facilities["facility_id"]
            ],
            "penalty_share": point.to_numpy(),
            "penalty_share_low": np.quantile(draws.to_numpy(), tail, axis=1),
            "penalty_share_high": np.quantile(draws.to_numpy(), 1 - tail, axis=1),
            "penalised_probability": (draws.to_numpy() > 0).mean(axis=1),
        }
    )
    exempt = ~table["in_program"]
    table.loc[exempt, ["penalty_share", "penalty_share_low", "penalty_share_high",
                       "penalised_probability"]] = np.nan  # fmt: skip
    for column in ("penalty_share", "penalty_share_low", "penalty_share_high"):
        table[column.replace("share", "usd")] = table[column] * table["base_payments_usd"]
    return table
