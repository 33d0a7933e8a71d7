"""The efficacy study: in infections treated with antibiotics, does a first dose within the
bundle's hours (CMS SEP-1: three hours) lower the risk of a deterioration event (rapid response,
ICU transfer or death)?

An observational comparison, as a hospital would run it on its records. The cohort is every stay
whose principal diagnosis falls in the study's groups with a given dose of the study's class
(``medications.antibiotic_timing_study``); the exposure is the earliest such dose within the
bundle's hours of admission; the outcome is the stay's recorded deterioration event. Teams treat
the patients who look sicker sooner, and those patients deteriorate more whatever the timing, so
the naive difference between the arms mixes the effect with severity. The adjusted estimates
condition on what showed severity at admission (the first lactate, an arrival through the
emergency department, age, Charlson index, the diagnosis group) with statsmodels'
``TreatmentEffect``: inverse probability weighting (a logistic propensity model), regression
adjustment (a linear outcome model per arm), and augmented inverse probability weighting, which
is doubly robust (consistent if either model is right) and the study's headline. Effects are risk
differences, early minus late, with 95% intervals (the sandwich errors of the joint estimating
equations).

They are only as good as the assumption that nothing else steers both the timing and the outcome;
the world's truth (``data/oracle``: each stay's deterioration risk had its first dose come early or
late) says whether it held.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.treatment.treatment_effects import TreatmentEffect

from configs import Settings
from features import build, engine, partitions, scores
from pharmacy import PharmacyError, oracle_rows

EMERGENCY_ARRIVAL = "emergency_department"
COVARIATES = ["admit_lactate", "emergency_arrival", "age_decades_over_65", "charlson_index"]
COHORT_COLUMNS = [
    "encounter_key", "diagnosis_group", "hours_to_first_dose", "early", "deteriorated", *COVARIATES
]  # fmt: skip
METHODS = {  # estimate name: TreatmentEffect method
    "inverse probability weighting": "ipw",
    "regression adjustment": "ra",
    "doubly robust (AIPW)": "aipw",
}
NAIVE = "naive (as observed)"
TRUTH = "true (the world's)"
Z_95 = float(stats.norm.ppf(0.975))


def cohort(tables: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    """The study's stays of a set of clean tables, one row each: encounter_key, diagnosis_group,
    hours_to_first_dose, early (1: within the bundle's hours), deteriorated (0/1) and the
    covariates (``COVARIATES``; admit_lactate missing where none was drawn by then)."""
    study = settings.medications.antibiotic_timing_study
    meds = settings.data_gen.medications
    drugs = {name.replace("_", " ") for name in meds.drugs_of(study.drug_class)}
    e = tables["encounters"]
    group = pd.Series(scores.diagnosis_group(e["primary_dx_code"].tolist()), index=e.index)
    doses = tables["medications"]
    doses = doses[doses["drug_name"].isin(drugs) & doses["first_dose_at"].notna()]
    first_dose = doses.groupby("encounter_key")["first_dose_at"].min()
    in_cohort = group.isin(study.diagnosis_groups) & e["encounter_key"].isin(first_dose.index)
    stays = e[in_cohort]
    if stays.empty:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    cases = build.admission_cases({**tables, "encounters": stays}, settings.features)
    hours = (
        stays["encounter_key"].map(first_dose) - stays["admitted_at"]
    ).dt.total_seconds() / 3600
    charlson = scores.charlson_conditions(cases["comorbidity_codes"])["charlson_index"]
    return pd.DataFrame(
        {
            "encounter_key": stays["encounter_key"].to_numpy(),
            "diagnosis_group": group[in_cohort].to_numpy(),
            "hours_to_first_dose": hours.to_numpy(),
            "early": (hours < study.bundle_hours).to_numpy(dtype=float),
            "deteriorated": stays["deterioration_event"].notna().to_numpy(dtype=float),
            "admit_lactate": cases["admit_lactate"].to_numpy(dtype=float),
            "emergency_arrival": (stays["admission_source"] == EMERGENCY_ARRIVAL).to_numpy(
                dtype=float
            ),
            "age_decades_over_65": (stays["age_years"].to_numpy(dtype=float) - 65) / 10,
            "charlson_index": np.asarray(charlson, dtype=float),
        }
    )


def load_cohort(clean_dir: Path, settings: Settings) -> pd.DataFrame:
    """``cohort`` over every partition of ``clean_dir`` (data/clean), on the engine."""
    study = settings.medications.antibiotic_timing_study
    if unknown := sorted(set(study.diagnosis_groups) - set(scores.DIAGNOSIS_GROUPS)):
        raise PharmacyError(
            f"medications.antibiotic_timing_study.diagnosis_groups: {unknown} are no diagnosis"
            f" groups of features.scores ({', '.join(scores.DIAGNOSIS_GROUPS)})"
        )
    if not (clean_dir / "encounters.parquet").exists():
        raise FileNotFoundError(f"no clean tables in {clean_dir}: run `make etl` first")
    folder = clean_dir.resolve()
    parts = range(partitions.part_count(folder / "encounters.parquet"))
    on_part = functools.partial(_cohort_of_part, folder, settings)
    stays = pd.concat(
        engine.map_partitions(on_part, list(parts), settings.engine, "efficacy"),
        ignore_index=True,
    )
    if stays.empty:
        raise PharmacyError(
            f"no stay of {clean_dir} has a principal diagnosis in {study.diagnosis_groups} and a"
            f" given dose of a(n) {study.drug_class}: the study has no cohort"
        )
    return stays


def _cohort_of_part(folder: Path, settings: Settings, part: int) -> pd.DataFrame:
    return cohort(partitions.read_part(folder, part), settings)


def _design(stays: pd.DataFrame) -> pd.DataFrame:
    """The adjustment set: a constant, the covariates and the diagnosis groups (the largest as
    the reference)."""
    design = stays[COVARIATES].assign(const=1.0)[["const", *COVARIATES]]
    groups = stays["diagnosis_group"].value_counts().index
    for group in sorted(groups[1:]):
        design[f"dx_{group}"] = (stays["diagnosis_group"] == group).to_numpy(dtype=float)
    return design


def _propensity(stays: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """The design and the logistic model of an early first dose on it."""
    design = _design(stays)
    return design, sm.Logit(stays["early"].to_numpy(dtype=int), design.to_numpy()).fit(disp=0)


def analysed(stays: pd.DataFrame) -> pd.DataFrame:
    """The stays with every covariate recorded (a complete-case analysis)."""
    return stays.dropna(subset=COVARIATES).reset_index(drop=True)


def estimates(stays: pd.DataFrame) -> pd.DataFrame:
    """Per method (naive, then ``METHODS``): the risk of deterioration had every stay of the
    analysed cohort been treated early and late, and their difference (early minus late) with its
    95% interval."""
    stays = analysed(stays)
    early = stays["early"].to_numpy(dtype=int)
    if early.all() or not early.any():
        raise PharmacyError(
            "every stay of the cohort falls in one arm: no comparison of early and late doses"
        )
    outcome = stays["deteriorated"].to_numpy(dtype=float)
    rows = [_naive(outcome, early)]
    design, propensity = _propensity(stays)
    effects = TreatmentEffect(sm.OLS(outcome, design.to_numpy()), early, results_select=propensity)
    for name, method in METHODS.items():
        result = getattr(effects, method)()
        (difference, risk_late, risk_early), (low, high) = result.effect, result.conf_int()[0]
        rows.append(_row(name, risk_early, risk_late, difference, low, high))
    table = pd.DataFrame(rows)
    return table.assign(stays=len(stays), early_stays=int(early.sum()))


def _naive(outcome: np.ndarray, early: np.ndarray) -> dict[str, float | str]:
    risk_early, risk_late = outcome[early == 1].mean(), outcome[early == 0].mean()
    se = np.sqrt(
        risk_early * (1 - risk_early) / early.sum()
        + risk_late * (1 - risk_late) / (len(early) - early.sum())
    )
    difference = risk_early - risk_late
    low, high = difference - Z_95 * se, difference + Z_95 * se
    return _row(NAIVE, risk_early, risk_late, difference, low, high)


def _row(method: str, risk_early, risk_late, difference, low, high) -> dict[str, float | str]:
    return {
        "method": method,
        "risk_early": float(risk_early),
        "risk_late": float(risk_late),
        "risk_difference": float(difference),
        "low": float(low),
        "high": float(high),
    }


def balance(stays: pd.DataFrame) -> pd.DataFrame:
    """Per covariate of the adjustment set: its mean in each arm and the standardised mean
    difference before and after inverse probability weighting (the pooled unweighted standard
    deviation in both; below 0.1 is the usual sign of balance)."""
    stays = analysed(stays)
    early = stays["early"].to_numpy(dtype=int)
    design, propensity = _propensity(stays)
    p = propensity.predict(design.to_numpy())
    weight = np.where(early == 1, 1 / p, 1 / (1 - p))
    rows = []
    for column in design.columns.drop("const"):
        x = design[column].to_numpy()
        treated, control = x[early == 1], x[early == 0]
        pooled_sd = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2) or 1.0
        weighted = [np.average(x[early == k], weights=weight[early == k]) for k in (1, 0)]
        rows.append(
            {
                "covariate": column,
                "mean_early": treated.mean(),
                "mean_late": control.mean(),
                "smd_before": (treated.mean() - control.mean()) / pooled_sd,
                "smd_weighted": (weighted[0] - weighted[1]) / pooled_sd,
            }
        )
    return pd.DataFrame(rows)


def true_effect(
    data_dir: Path, settings: Settings, stays: pd.DataFrame, key_root: Path = Path()
) -> dict[str, float]:
    """The world's effect on the analysed cohort (``data/oracle``: each stay's risk had its first
    dose come early and late): the mean risks and their difference, and the stays they cover. For
    judging the study, never an input to it."""
    stays = analysed(stays)
    risks = oracle_rows(
        data_dir / "oracle" / "encounters.parquet",
        ["p_deterioration_antibiotics_early", "p_deterioration_antibiotics_late"],
        settings,
        stays["encounter_key"],
        key_root,
    ).set_index("encounter_key")
    risks = risks.reindex(stays["encounter_key"])
    if missing := int(risks.isna().any(axis=1).sum()):
        raise PharmacyError(
            f"the oracle has no risk under early and late doses for {missing} of the cohort's "
            f"{len(stays)} stays: the world times antibiotics in "
            f"{sorted(settings.data_gen.medications.antibiotic_timing.groups)} only"
        )
    early, late = (risks[f"p_deterioration_antibiotics_{arm}"].mean() for arm in ("early", "late"))
    return {
        "risk_early": early,
        "risk_late": late,
        "risk_difference": early - late,
        "stays": len(stays),
        "early_stays": int(stays["early"].sum()),
    }
