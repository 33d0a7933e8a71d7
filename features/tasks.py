"""Feature functions for the four tasks, shared by the batch pipeline and the model server.

Each function maps *cases* (clinical inputs as an application would send them: age, codes, labs,
vitals, prior utilisation...) to a frame of model features. They do no I/O, use nothing recorded
after their prediction time, and are as fast on one case as they are vectorised on a million.
``FEATURES`` documents every column they produce (see ``python -m features dictionary``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import scores

PAYERS = ("medicare", "medicaid", "commercial", "self_pay")
ADMISSION_TYPES = ("emergency", "urgent", "elective")
ADMISSION_SOURCES = ("emergency_department", "physician_referral", "transfer")
UNITS = ("medicine", "cardiology", "surgery", "orthopedics", "neurology", "oncology", "icu")
FACILITY_TYPES = ("academic", "community", "critical_access")
PROTOCOLS = ("standard", "enhanced", "conservative")
DISPOSITIONS = ("home", "home_health", "snf", "rehab", "hospice", "ama", "transfer")
DIAGNOSIS_GROUPS = (*scores.DIAGNOSIS_GROUPS, scores.OTHER_GROUP)
VITAL_SIGNS = ("heart_rate", "respiratory_rate", "spo2", "temperature_c", "systolic_bp")
LAB_TESTS = ("haemoglobin", "sodium", "creatinine", "wbc", "lactate")
DISCHARGE_LABS = ("haemoglobin", "sodium", "creatinine", "wbc")
TRENDED = ("heart_rate", "respiratory_rate", "spo2", "systolic_bp", "news2_score")
ONCOLOGY_UNIT = "oncology"


@dataclass(frozen=True)
class Feature:
    """One documented model input (or a family of one-hot columns, ``name_<level>``)."""

    name: str
    meaning: str
    unit: str
    tasks: tuple[str, ...]
    levels: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}_{level}" for level in self.levels] if self.levels else [self.name]


ADMISSION_TASKS = ("los", "cost", "readmission")
ALL_TASKS = ("readmission", "los", "cost", "deterioration")
FEATURES: list[Feature] = [
    Feature("age_years", "age at admission, 90 for 90 and over", "years", ALL_TASKS),
    Feature("female", "sex recorded as female", "0/1", ALL_TASKS),
    Feature("payer", "primary payer", "0/1", ADMISSION_TASKS, PAYERS),
    Feature("admission_type", "type of admission", "0/1", ALL_TASKS, ADMISSION_TYPES),
    Feature(
        "admission_source", "where the patient came from", "0/1", ADMISSION_TASKS, ADMISSION_SOURCES
    ),
    Feature("unit", "admitting unit", "0/1", ADMISSION_TASKS, UNITS),
    Feature(
        "facility_id", "facility of the stay (identifier used as a number)", "id", ADMISSION_TASKS
    ),
    Feature("facility_type", "type of facility", "0/1", ADMISSION_TASKS, FACILITY_TYPES),
    Feature(
        "dx_group",
        "clinical group of the principal diagnosis (ICD-10-CM)",
        "0/1",
        ALL_TASKS,
        DIAGNOSIS_GROUPS,
    ),
    Feature(
        "charlson_index",
        "Charlson comorbidity index, Quan ICD-10 coding, unadjusted for age",
        "points",
        ALL_TASKS,
    ),
    *(
        Feature(
            f"cm_{name}",
            f"Charlson condition coded: {name.replace('_', ' ')}",
            "0/1",
            ADMISSION_TASKS,
        )
        for name in scores.CHARLSON_CONDITIONS
    ),
    Feature(
        "prior_admissions_12m",
        "admissions in the 12 months before this admission",
        "count",
        ADMISSION_TASKS,
    ),
    Feature(
        "ed_visits_6m",
        "ED visits in the 6 months before this admission (not counting its own)",
        "count",
        ADMISSION_TASKS,
    ),
    Feature(
        "protocol", "treatment protocol chosen at admission", "0/1", ADMISSION_TASKS, PROTOCOLS
    ),
    *(
        Feature(
            f"admit_{sign}",
            f"first {sign.replace('_', ' ')} recorded at admission",
            unit,
            ("los", "cost"),
        )
        for sign, unit in zip(
            VITAL_SIGNS, ("beats/min", "breaths/min", "%", "degrees C", "mmHg"), strict=True
        )
    ),
    Feature(
        "admit_on_oxygen", "supplemental oxygen at the first observation", "0/1", ("los", "cost")
    ),
    Feature(
        "admit_not_alert",
        "not alert (ACVPU C, V, P or U) at the first observation",
        "0/1",
        ("los", "cost"),
    ),
    Feature("admit_news2_score", "NEWS2 of the first observation", "points", ("los", "cost")),
    *(
        Feature(f"admit_{test}", f"{test} at admission", unit, ("los", "cost"))
        for test, unit in zip(
            LAB_TESTS, ("g/dL", "mmol/L", "mg/dL", "10^9/L", "mmol/L"), strict=True
        )
    ),
    Feature("los_days", "length of the stay", "days", ("readmission",)),
    Feature("icu_days", "days in intensive care during the stay", "days", ("readmission",)),
    Feature("disposition", "discharge destination", "0/1", ("readmission",), DISPOSITIONS),
    *(
        Feature(f"discharge_{test}", f"last {test} before discharge", unit, ("readmission",))
        for test, unit in zip(DISCHARGE_LABS, ("g/dL", "mmol/L", "mg/dL", "10^9/L"), strict=True)
    ),
    Feature("procedure_count", "ICD-10-PCS procedures during the stay", "count", ("readmission",)),
    Feature("complication", "complication coded during the stay", "0/1", ("readmission",)),
    Feature(
        "deteriorated", "ICU transfer or rapid response during the stay", "0/1", ("readmission",)
    ),
    Feature("lace_score", "LACE index (van Walraven 2010)", "points 0-19", ("readmission",)),
    Feature("hospital_score", "HOSPITAL score (Donze 2013)", "points 0-13", ("readmission",)),
    Feature(
        "hours_since_admission",
        "time from admission to this observation",
        "hours",
        ("deterioration",),
    ),
    *(
        Feature(sign, f"{sign.replace('_', ' ')} at this observation", unit, ("deterioration",))
        for sign, unit in zip(
            VITAL_SIGNS, ("beats/min", "breaths/min", "%", "degrees C", "mmHg"), strict=True
        )
    ),
    Feature("on_oxygen", "supplemental oxygen at this observation", "0/1", ("deterioration",)),
    Feature(
        "not_alert", "not alert (ACVPU C, V, P or U) at this observation", "0/1", ("deterioration",)
    ),
    *(
        Feature(
            f"news2_{part}",
            f"NEWS2 points for {part.replace('_', ' ')}",
            "points",
            ("deterioration",),
        )
        for part in scores.NEWS2_COMPONENTS
    ),
    Feature("news2_score", "NEWS2 total at this observation", "points 0-20", ("deterioration",)),
    Feature(
        "observations_so_far",
        "vitals observations in the stay up to this one",
        "count",
        ("deterioration",),
    ),
    *(
        Feature(
            f"latest_{test}", f"latest {test} drawn by this observation", unit, ("deterioration",)
        )
        for test, unit in zip(
            LAB_TESTS, ("g/dL", "mmol/L", "mg/dL", "10^9/L", "mmol/L"), strict=True
        )
    ),
    Feature("hours_since_lab", "time since the latest lab draw", "hours", ("deterioration",)),
]


TREND_KINDS = {
    "change": "{sign} now minus {hours} h before",
    "max": "highest {sign} in the last {hours} h",
    "min": "lowest {sign} in the last {hours} h",
}


def trend_features(trend_hours: list[int]) -> list[Feature]:
    """Change of each trended sign over the last N hours, and its range over that window."""
    return [
        Feature(
            f"{sign}_{kind}_{hours}h",
            text.format(sign=sign.replace("_", " "), hours=hours),
            "as the sign",
            ("deterioration",),
        )
        for hours in trend_hours
        for sign in TRENDED
        for kind, text in TREND_KINDS.items()
    ]


def feature_columns(task: str, trend_hours: list[int]) -> list[str]:
    """The model input columns of a task, in a fixed order."""
    specs = [*FEATURES, *trend_features(trend_hours)]
    return [column for spec in specs if task in spec.tasks for column in spec.columns]


# --------------------------------------------------------------------------------------------
# Shared pieces


def one_hot(values: pd.Series, name: str, levels: tuple[str, ...]) -> pd.DataFrame:
    """Fixed one-hot columns ``name_<level>``; an unknown or missing value sets none of them."""
    present = np.asarray(values.astype(object))[:, None] == np.array(levels, dtype=object)[None, :]
    return pd.DataFrame(
        present.astype("int8"), index=values.index, columns=[f"{name}_{level}" for level in levels]
    )


def comorbidities(codes: pd.Series) -> pd.DataFrame:
    """Charlson flags (``cm_*``) and index per case from a column of ICD-10-CM code lists."""
    exploded = codes.explode().dropna()
    conditions = scores.charlson_conditions(
        pd.DataFrame({"case": exploded.index, "code": exploded.to_numpy()}), "case"
    )
    conditions = conditions.reindex(codes.index, fill_value=False)
    flags = conditions[list(scores.CHARLSON_CONDITIONS)].astype("int8").add_prefix("cm_")
    return flags.assign(charlson_index=conditions["charlson_index"].fillna(0).astype("int16"))


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _news2(frame: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    return scores.news2_components(
        respiratory_rate=_numeric(frame, f"{prefix}respiratory_rate"),
        spo2=_numeric(frame, f"{prefix}spo2"),
        on_oxygen=frame[f"{prefix}on_oxygen"].fillna(False).astype(bool),
        systolic_bp=_numeric(frame, f"{prefix}systolic_bp"),
        heart_rate=_numeric(frame, f"{prefix}heart_rate"),
        consciousness=frame[f"{prefix}consciousness"].astype(object),
        temperature_c=_numeric(frame, f"{prefix}temperature_c"),
    ).set_axis(frame.index)


def _not_alert(consciousness: pd.Series) -> pd.Series:
    """1 for ACVPU C, V, P or U, 0 for A, missing when not recorded."""
    return (consciousness != "A").astype("float64").where(consciousness.notna())


def _case_basics(cases: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "age_years": _numeric(cases, "age_years"),
                    "female": (cases["sex"] == "F").astype("int8"),
                },
                index=cases.index,
            ),
            one_hot(cases["admission_type"], "admission_type", ADMISSION_TYPES),
            one_hot(scores.diagnosis_group(cases["primary_dx_code"]), "dx_group", DIAGNOSIS_GROUPS),
        ],
        axis=1,
    )


# --------------------------------------------------------------------------------------------
# At admission: length of stay and cost (and the admission part of readmission)


def _stay_features(cases: pd.DataFrame) -> pd.DataFrame:
    """What every stay-level task knows: who, how admitted, where, comorbidity, history, plan."""
    return pd.concat(
        [
            _case_basics(cases),
            one_hot(cases["payer"], "payer", PAYERS),
            one_hot(cases["admission_source"], "admission_source", ADMISSION_SOURCES),
            one_hot(cases["unit"], "unit", UNITS),
            pd.DataFrame({"facility_id": _numeric(cases, "facility_id")}, index=cases.index),
            one_hot(cases["facility_type"], "facility_type", FACILITY_TYPES),
            comorbidities(cases["comorbidity_codes"]),
            pd.DataFrame(
                {
                    "prior_admissions_12m": _numeric(cases, "prior_admissions_12m"),
                    "ed_visits_6m": _numeric(cases, "ed_visits_6m"),
                },
                index=cases.index,
            ),
            one_hot(cases["treatment_protocol"], "protocol", PROTOCOLS),
        ],
        axis=1,
    )


def admission_features(cases: pd.DataFrame) -> pd.DataFrame:
    """Features known at admission, from one row per stay.

    Columns used: age_years, sex, payer, admission_type, admission_source, unit, facility_id,
    facility_type, primary_dx_code, comorbidity_codes (list of codes present on admission),
    prior_admissions_12m, ed_visits_6m, treatment_protocol, and the first vitals and labs
    (admit_<sign>, admit_on_oxygen, admit_consciousness, admit_<test>), any of them missing.
    """
    news2 = _news2(cases, "admit_")
    first_look = pd.DataFrame(
        {
            **{f"admit_{sign}": _numeric(cases, f"admit_{sign}") for sign in VITAL_SIGNS},
            "admit_on_oxygen": _numeric(cases, "admit_on_oxygen"),
            "admit_not_alert": _not_alert(cases["admit_consciousness"]),
            "admit_news2_score": scores.news2_score(news2),
            **{f"admit_{test}": _numeric(cases, f"admit_{test}") for test in LAB_TESTS},
        },
        index=cases.index,
    )
    return pd.concat([_stay_features(cases), first_look], axis=1)[feature_columns("los", [])]


# --------------------------------------------------------------------------------------------
# At discharge: readmission


def readmission_features(cases: pd.DataFrame) -> pd.DataFrame:
    """Features at discharge, from one row per stay.

    Columns used: those of ``admission_features`` but the first vitals and labs
    (``comorbidity_codes`` now every secondary code of the stay), plus los_days, icu_days,
    discharge_disposition, discharge_<test>, procedure_count, complication, deteriorated.
    """
    los_days = _numeric(cases, "los_days")
    procedures = _numeric(cases, "procedure_count").fillna(0)
    frame = pd.concat(
        [
            _stay_features(cases),
            pd.DataFrame(
                {
                    "los_days": los_days,
                    "icu_days": _numeric(cases, "icu_days").fillna(0.0),
                    **{
                        f"discharge_{test}": _numeric(cases, f"discharge_{test}")
                        for test in DISCHARGE_LABS
                    },
                    "procedure_count": procedures,
                    "complication": cases["complication"].astype("int8"),
                    "deteriorated": cases["deteriorated"].astype("int8"),
                },
                index=cases.index,
            ),
            one_hot(cases["discharge_disposition"], "disposition", DISPOSITIONS),
        ],
        axis=1,
    )
    frame["lace_score"] = scores.lace_score(
        los_days.to_numpy(),
        acute=cases["admission_type"].isin(["emergency", "urgent"]).to_numpy(),
        charlson=frame["charlson_index"].to_numpy(),
        ed_visits_6m=frame["ed_visits_6m"].fillna(0).to_numpy(),
    )
    frame["hospital_score"] = scores.hospital_score(
        haemoglobin=frame["discharge_haemoglobin"].to_numpy(),
        oncology=(cases["unit"] == ONCOLOGY_UNIT).to_numpy(),
        sodium=frame["discharge_sodium"].to_numpy(),
        procedure=(procedures > 0).to_numpy(),
        urgent=cases["admission_type"].isin(["emergency", "urgent"]).to_numpy(),
        admissions_12m=frame["prior_admissions_12m"].fillna(0).to_numpy(),
        los_days=los_days.to_numpy(),
    )
    return frame[feature_columns("readmission", [])]


# --------------------------------------------------------------------------------------------
# At each vitals observation: deterioration


def deterioration_features(
    stays: pd.DataFrame,
    observations: pd.DataFrame,
    labs: pd.DataFrame,
    trend_hours: list[int],
) -> pd.DataFrame:
    """Features at every observation, from that observation and earlier ones of the same stay.

    ``stays``: one row per stay (stay_key, admitted_at, age_years, sex, admission_type,
    primary_dx_code, comorbidity_codes present on admission). ``observations``: stay_key,
    observed_at and the vitals. ``labs``: stay_key, drawn_at, test, value. Returns one row per
    observation, indexed like ``observations``.
    """
    obs = observations.reset_index(drop=True)
    stay = stays.set_index("stay_key")
    news2 = _news2(obs)
    in_time_order = obs.sort_values(["stay_key", "observed_at"], kind="stable")
    so_far = in_time_order.groupby("stay_key").cumcount().reindex(obs.index) + 1
    current = pd.DataFrame(
        {
            "hours_since_admission": (
                obs["observed_at"] - obs["stay_key"].map(stay["admitted_at"])
            ).dt.total_seconds()
            / 3600,
            **{sign: _numeric(obs, sign) for sign in VITAL_SIGNS},
            "on_oxygen": obs["on_oxygen"].astype("int8"),
            "not_alert": (obs["consciousness"] != "A").astype("int8"),
            **{f"news2_{part}": news2[part] for part in scores.NEWS2_COMPONENTS},
            "news2_score": scores.news2_score(news2),
            "observations_so_far": so_far,
        }
    )
    per_stay = pd.concat(
        [_case_basics(stays), comorbidities(stays["comorbidity_codes"])["charlson_index"]], axis=1
    ).set_axis(stays["stay_key"])
    frame = pd.concat(
        [
            per_stay.reindex(obs["stay_key"]).reset_index(drop=True),
            current,
            _trends(obs.assign(news2_score=current["news2_score"]), trend_hours),
            _latest_labs(obs, labs),
        ],
        axis=1,
    )
    return frame[feature_columns("deterioration", trend_hours)].set_axis(observations.index)


def _trends(obs: pd.DataFrame, trend_hours: list[int]) -> pd.DataFrame:
    """Per window of N hours: the value now minus the last one at least N hours before, and the
    highest and lowest values within the window (this observation included).

    Works on one sorted array of (stay, time) keys, so that a window never reaches into another
    stay, with binary search for the window starts: fast on a million observations, exact for
    any spacing of the observations.
    """
    order = np.lexsort((obs["observed_at"].to_numpy(), obs["stay_key"].to_numpy()))
    stay_code = pd.factorize(obs["stay_key"].to_numpy()[order])[0]
    seconds = obs["observed_at"].to_numpy()[order].astype("datetime64[s]").astype(np.int64)
    # Stays are placed a century apart on one time line: windows cannot cross between them.
    timeline = stay_code.astype(np.float64) * 3.2e9 + (seconds - seconds.min())
    positions = np.arange(len(order))
    columns = {}
    for hours in trend_hours:
        width = hours * 3600.0
        first_inside = np.searchsorted(timeline, timeline - width, side="left")
        last_before = np.searchsorted(timeline, timeline - width, side="right") - 1
        has_before = (last_before >= 0) & (stay_code[np.maximum(last_before, 0)] == stay_code)
        span = int((positions - first_inside).max(initial=0))
        for sign in TRENDED:
            values = obs[sign].to_numpy(dtype=np.float64)[order]
            highest, lowest = values.copy(), values.copy()
            for lag in range(1, span + 1):
                inside = positions - lag >= first_inside
                earlier = values[np.maximum(positions - lag, 0)]
                highest = np.where(inside, np.fmax(highest, earlier), highest)
                lowest = np.where(inside, np.fmin(lowest, earlier), lowest)
            change = np.where(has_before, values - values[np.maximum(last_before, 0)], np.nan)
            for name, result in (("change", change), ("max", highest), ("min", lowest)):
                unsorted = np.empty_like(result)
                unsorted[order] = result
                columns[f"{sign}_{name}_{hours}h"] = unsorted
    return pd.DataFrame(columns, index=obs.index)


def _latest_labs(obs: pd.DataFrame, labs: pd.DataFrame) -> pd.DataFrame:
    """The latest value of each test drawn at or before each observation, and its age in hours."""
    rows = (
        obs[["stay_key", "observed_at"]].rename_axis("row").reset_index().sort_values("observed_at")
    )
    draws = labs[labs["test"].isin(LAB_TESTS)].sort_values("drawn_at")
    latest = {}
    for test in LAB_TESTS:
        of_test = draws.loc[draws["test"] == test, ["stay_key", "drawn_at", "value"]]
        merged = pd.merge_asof(
            rows, of_test, left_on="observed_at", right_on="drawn_at", by="stay_key"
        ).set_index("row")
        latest[f"latest_{test}"] = merged["value"]
    newest = pd.merge_asof(
        rows,
        draws[["stay_key", "drawn_at"]],
        left_on="observed_at",
        right_on="drawn_at",
        by="stay_key",
    ).set_index("row")
    latest["hours_since_lab"] = (
        newest["observed_at"] - newest["drawn_at"]
    ).dt.total_seconds() / 3600
    return pd.DataFrame(latest).reindex(obs.index)
