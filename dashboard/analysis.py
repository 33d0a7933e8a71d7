"""The dashboard's analyses, as pure functions over de-identified frames (a partition's or the
whole world's): the stay table, treatment effects adjusted for severity, the funnel plot's
control limits, and the current inpatients' risk lists with their
reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from configs import vocabulary
from configs.features import FeaturesConfig
from features import build, cases, scores
from features.interactions import KnowledgeBase

REFERENCE_PROTOCOL = "standard"
READMISSION_WINDOWS_DAYS = (30, 60, 90)
ALL = "all"


# --------------------------------------------------------------------------------------------
# The stays, one row each, as the patient and treatment analyses group them


def stay_rows(
    tables: dict[str, pd.DataFrame], config: FeaturesConfig, data_end: pd.Timestamp
) -> pd.DataFrame:
    """One row per stay with what the patient and treatment analyses group by: facility, payer,
    sex, race, age band, diagnosis group, Charlson index, admission lactate, protocol, outcome,
    cost, and unplanned readmission within 30, 60 and 90 days (missing without full follow-up by
    ``data_end``; only for stays ending alive and not in a transfer, as in the KPI table)."""
    cases = build.admission_cases(tables, config)
    e = tables["encounters"]
    patients = tables["patients"].set_index("patient_key")
    readmitted = build.readmission_labels(e, list(READMISSION_WINDOWS_DAYS), data_end)
    charlson = scores.charlson_conditions(cases["comorbidity_codes"])["charlson_index"]
    facility = e["facility_id"].map(tables["facilities"].set_index("facility_id")["name"])
    return pd.DataFrame(
        {
            "patient_key": e["patient_key"].to_numpy(),
            "facility": facility.to_numpy(),
            "admitted_at": e["admitted_at"].to_numpy(),
            "discharge_month": e["discharged_at"].dt.to_period("M").dt.to_timestamp().to_numpy(),
            "sex": e["patient_key"].map(patients["sex"]).to_numpy(),
            "race": e["patient_key"].map(patients["race"]).to_numpy(),
            "payer": e["patient_key"].map(patients["payer"]).to_numpy(),
            "age_years": e["age_years"].to_numpy(),
            "age_band": build.age_bands(e["age_years"]).to_numpy(dtype=object),
            "emergent": (e["admission_type"] != "elective").to_numpy(dtype=float),
            "diagnosis_group": scores.diagnosis_group(e["primary_dx_code"].tolist()),
            "charlson_index": charlson,
            "admit_lactate": cases["admit_lactate"].to_numpy(),
            "protocol": e["treatment_protocol"].to_numpy(),
            "survived": (e["discharge_disposition"] != vocabulary.EXPIRED).to_numpy(),
            "treatment_success": e["treatment_success"].to_numpy(dtype=float),
            "complication": e["complication"].to_numpy(dtype=float),
            "total_cost_usd": e["total_cost_usd"].to_numpy(),
            **{
                f"readmitted_{w}d": readmitted[f"readmitted_{w}d"].to_numpy()
                for w in READMISSION_WINDOWS_DAYS
            },
        }
    )


# --------------------------------------------------------------------------------------------
# Treatment success: naive and adjusted for severity


def _design(frame: pd.DataFrame, protocols: list[str], adjusted: bool) -> pd.DataFrame:
    """Protocol indicators (against the standard protocol) and, when adjusted, what severity
    shows at admission and what drives success besides the protocol: admission lactate, an
    unplanned admission, age, Charlson index and the diagnosis group."""
    columns = {"const": np.ones(len(frame))}
    for protocol in protocols:
        columns[f"protocol_{protocol}"] = (frame["protocol"] == protocol).to_numpy(dtype=float)
    if adjusted:
        columns |= {
            "admit_lactate": frame["admit_lactate"].to_numpy(dtype=float),
            "emergent": frame["emergent"].to_numpy(dtype=float),
            "age_decades_over_65": (frame["age_years"].to_numpy(dtype=float) - 65) / 10,
            "charlson_index": frame["charlson_index"].to_numpy(dtype=float),
        }
        groups = sorted(frame["diagnosis_group"].unique())
        for group in groups[1:]:
            columns[f"dx_{group}"] = (frame["diagnosis_group"] == group).to_numpy(dtype=float)
    return pd.DataFrame(columns, index=frame.index)


def treatment_effects(stays: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Treatment success by protocol among survivors (success is judged in them), naive and
    adjusted by logistic regression (statsmodels) for the severity that steers the choice.

    Returns ``rates`` (by diagnosis group, ``all`` included, and protocol: stays, the observed
    success rate and the adjusted one: the mean predicted success had every patient of the group
    received that protocol) and ``effects`` (per protocol against the standard one: the log odds
    ratio of success, naive and adjusted, with 95% intervals)."""
    frame = stays[stays["survived"] & stays["protocol"].notna()]
    frame = frame.dropna(subset=["treatment_success", "admit_lactate"])
    protocols = sorted(p for p in frame["protocol"].unique() if p != REFERENCE_PROTOCOL)
    success = frame["treatment_success"].to_numpy(dtype=float)
    fits = {
        kind: sm.Logit(success, _design(frame, protocols, kind == "adjusted")).fit(disp=0)
        for kind in ("naive", "adjusted")
    }
    effects = []
    for protocol in protocols:
        row = {"protocol": protocol}
        for kind, fit in fits.items():
            low, high = fit.conf_int().loc[f"protocol_{protocol}"]
            row |= {
                f"{kind}_log_odds": float(fit.params[f"protocol_{protocol}"]),
                f"{kind}_low": float(low),
                f"{kind}_high": float(high),
            }
        effects.append(row)

    design = _design(frame, protocols, adjusted=True)
    counterfactual = {}
    for protocol in [REFERENCE_PROTOCOL, *protocols]:
        as_if = design.copy()
        for other in protocols:
            as_if[f"protocol_{other}"] = float(other == protocol)
        counterfactual[protocol] = fits["adjusted"].predict(as_if)
    rates = []
    groups = [ALL, *sorted(frame["diagnosis_group"].unique())]
    for group in groups:
        members = (frame["diagnosis_group"] == group).to_numpy() | (group == ALL)
        for protocol, predicted in counterfactual.items():
            received = members & (frame["protocol"] == protocol).to_numpy()
            rates.append(
                {
                    "diagnosis_group": group,
                    "protocol": protocol,
                    "stays": int(received.sum()),
                    "naive_rate": float(success[received].mean()) if received.any() else np.nan,
                    "adjusted_rate": float(np.asarray(predicted)[members].mean()),
                }
            )
    return pd.DataFrame(rates), pd.DataFrame(effects)


# --------------------------------------------------------------------------------------------
# Funnel plot


def funnel_limits(expected: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits of the observed/expected ratio for a unit with ``expected`` deaths, if its
    deaths were Poisson with that mean (O/E = 1): the ``coverage`` interval of the count, over
    the expected count (Spiegelhalter 2005, with the usual interpolation between integers)."""
    expected = np.asarray(expected, dtype=float)
    tail = (1 - coverage) / 2

    def limit(p: float) -> np.ndarray:
        count = stats.poisson.ppf(p, expected)
        below = stats.poisson.cdf(count - 1, expected)
        at = stats.poisson.pmf(count, expected)
        shift = np.divide(p - below, at, out=np.zeros_like(expected), where=at > 0)
        return np.maximum(count - 1 + shift, 0) / expected

    return limit(tail), limit(1 - tail)


# --------------------------------------------------------------------------------------------
# Risk lists of the current inpatients


def records_as_of(
    clean: dict[str, pd.DataFrame], at: pd.Timestamp
) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """The records as they stood at ``at``, and the keys of the stays in hospital then.

    The stays that ended by ``at`` are kept whole (they are the history: prior admissions). For
    the current stays a discharge is assumed at ``at`` (home: the destination is not known yet),
    with only what was recorded by then: vitals, labs, procedures, the medicines ordered (a
    stop or first dose still to come not known yet), an ICU transfer or rapid response, and the
    diagnoses present on admission (the others are coded at discharge, like complications,
    which count as none yet)."""
    e = clean["encounters"]
    e = e[e["admitted_at"] <= at]
    current = e["discharged_at"] > at
    stays = e[current]
    keys = stays["encounter_key"]
    event_seen = stays["deterioration_at"] <= at
    transferred_at = stays["deterioration_at"].where(
        event_seen & (stays["deterioration_event"] == "icu_transfer")
    )
    icu_start = stays["admitted_at"].where(stays["unit"] == "icu", transferred_at)
    icu_days = ((at - icu_start).dt.total_seconds() / 86400).clip(upper=stays["icu_days"])
    as_of = stays.assign(
        discharged_at=at,
        discharge_disposition="home",
        icu_days=icu_days.fillna(0.0),
        complication=False,
        deterioration_event=stays["deterioration_event"].where(event_seen),
        deterioration_at=stays["deterioration_at"].where(event_seen),
    )

    def of_current(name: str, time: str) -> pd.DataFrame:
        table = clean[name][clean[name]["encounter_key"].isin(keys)]
        return table[table[time] <= at]

    diagnoses = clean["diagnoses"][clean["diagnoses"]["encounter_key"].isin(keys)]
    orders = of_current("medications", "ordered_at")
    orders = orders.assign(
        first_dose_at=orders["first_dose_at"].where(orders["first_dose_at"] <= at),
        stopped_at=orders["stopped_at"].where(orders["stopped_at"] <= at),
    )
    past = clean["medications"]["encounter_key"].isin(e.loc[~current, "encounter_key"])
    records = {
        "encounters": pd.concat([e[~current], as_of]).reset_index(drop=True),
        "patients": clean["patients"],
        "facilities": clean["facilities"],
        "ed_visits": clean["ed_visits"][clean["ed_visits"]["arrival_at"] <= at],
        "diagnoses": diagnoses[diagnoses["present_on_admission"] | (diagnoses["position"] == 1)],
        "procedures": of_current("procedures", "performed_at"),
        "vitals": of_current("vitals", "observed_at"),
        "labs": of_current("labs", "drawn_at"),
        "medications": pd.concat([clean["medications"][past], orders], ignore_index=True),
    }
    return records, keys


def current_cases(
    clean: dict[str, pd.DataFrame], config: FeaturesConfig, kb: KnowledgeBase, at: pd.Timestamp
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The current inpatients as each case type sees them at ``at``, with their features (the
    same feature code as training and serving): ``admission``, each stay as in its first hours;
    ``discharge``, each stay as if discharged home now; ``ward``, the ward stays without an event
    yet, at their latest observation."""
    records, current = records_as_of(clean, at)
    admission = build.admission_cases(records, config)
    discharge = build.discharge_cases(records, admission)
    mine = discharge["encounter_key"].isin(current).to_numpy()
    at_discharge = discharge[mine].reset_index(drop=True)
    at_admission = admission[mine].reset_index(drop=True)

    observations, _, features = build.ward_observations(records, config, kb, admission)
    stays = records["encounters"].set_index("encounter_key")
    quiet = stays["deterioration_at"].isna()
    observations = observations[observations["stay_key"].map(quiet).fillna(False).to_numpy()]
    latest = observations.groupby("stay_key")["observed_at"].idxmax().to_numpy()
    ward = observations.loc[latest, ["stay_key", "observed_at"]].rename(
        columns={"stay_key": "encounter_key"}
    )
    details = stays[["patient_key", "facility_id", "unit", "admitted_at"]]
    ward = ward.join(details, on="encounter_key")
    return {
        cases.ADMISSION: (at_admission, cases.admission_features(at_admission, kb)),
        cases.DISCHARGE: (at_discharge, cases.discharge_features(at_discharge, kb)),
        cases.WARD: (ward.reset_index(drop=True), features.loc[latest].reset_index(drop=True)),
    }


def combine_cases(
    pieces: list[dict[str, tuple[pd.DataFrame, pd.DataFrame]]],
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """``current_cases`` of several partitions as one."""
    return {
        case: tuple(
            pd.concat([piece[case][i] for piece in pieces], ignore_index=True) for i in (0, 1)
        )
        for case in pieces[0]
    }


def top_reasons(
    model: Any, features: pd.DataFrame, meanings: dict[str, str], count: int
) -> list[str]:
    """Per case, the features that push its prediction most (SHAP contributions, largest
    magnitude first), in words, with the patient's value and the direction of the push."""
    inputs = features[model.features]
    contributions = model.contributions(inputs)[model.features].to_numpy()
    ranked = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :count]
    values = inputs.to_numpy()
    reasons = []
    for row, columns in enumerate(ranked):
        parts = []
        for column in columns:
            name, value = model.features[column], values[row, column]
            shown = "missing" if np.isnan(value) else f"{value:.3g}"
            arrow = "↑" if contributions[row, column] > 0 else "↓"
            parts.append(f"{arrow} {meanings.get(name, name)} ({shown})")
        reasons.append("; ".join(parts))
    return reasons
