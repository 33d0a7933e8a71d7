"""Feature functions per case type, shared by the batch pipeline and the model server.

A *case type* is a prediction time and what is known then: ``admission`` (a stay in its first
hours), ``discharge`` (a stay at its end) and ``ward`` (a ward stay at one vitals observation).
Tasks declare theirs in ``configs/tasks/<task>.yaml``; several tasks share one (length of stay,
cost and mortality are all predicted at admission), so the feature code knows case types only.

Each function maps *cases* (clinical inputs as an application would send them: age, codes, labs,
vitals, prior utilisation...) to a frame of model features. They do no I/O, use nothing recorded
after their prediction time, and are as fast on one case as they are vectorised on a million.
``FEATURES`` documents every column they produce (see ``python -m features dictionary``).

A case's medication list is what was ordered by its prediction time: in the first hours at
admission, during the stay at discharge, and at a ward observation the orders placed and not yet
stopped. The knowledge base (``features.interactions``) says what each drug is and which pairs
interact.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from configs.vocabulary import (
    ADMISSION_SOURCES,
    ADMISSION_TYPES,
    DISPOSITIONS,
    FACILITY_TYPES,
    LAB_TESTS,
    PAYERS,
    PROTOCOLS,
    UNITS,
    UNPLANNED_ADMISSION_TYPES,
)
from features import interactions, scores
from features.interactions import KnowledgeBase

ADMISSION, DISCHARGE, WARD = "admission", "discharge", "ward"
# Each case type's prediction time, in words (the data dictionary's "available" column).
PREDICTION_TIMES = {
    ADMISSION: "at admission (first {hours:g} h)",
    DISCHARGE: "at discharge",
    WARD: "at each vitals observation",
}
DIAGNOSIS_GROUPS = (*scores.DIAGNOSIS_GROUPS, scores.OTHER_GROUP)
VITAL_SIGNS = ("heart_rate", "respiratory_rate", "spo2", "temperature_c", "systolic_bp")
DISCHARGE_LABS = ("haemoglobin", "sodium", "creatinine", "wbc")
TRENDED = ("heart_rate", "respiratory_rate", "spo2", "systolic_bp", "news2_score")
ONCOLOGY_UNIT = "oncology"
# Drug classes whose presence on the list is a feature: the ISMP high-alert ones and the classes
# behind the commonest adverse drug events (bleeding, respiratory depression, hyperkalaemia, AKI).
MEDICATION_CLASSES = (
    "anticoagulant", "opioid", "benzodiazepine", "insulin", "raas_inhibitor", "nsaid", "antibiotic",
)  # fmt: skip


@dataclass(frozen=True)
class Feature:
    """One documented model input (or a family of one-hot columns, ``name_<level>``)."""

    name: str
    meaning: str
    unit: str
    cases: tuple[str, ...]  # the case types that have it
    levels: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}_{level}" for level in self.levels] if self.levels else [self.name]


STAY = (ADMISSION, DISCHARGE)
EVERY = (ADMISSION, DISCHARGE, WARD)
# What the medication list gives, and the adverse drug events coded: treatment, not case mix
# (risk adjustment leaves them out).
MEDICATION_LIST: list[Feature] = [
    Feature("medicines", "drugs on the medication list (home medicines included)", "count", EVERY),
    Feature("home_medicines", "home medicines on the list: polypharmacy", "count", EVERY),
    Feature(
        "high_alert_medicines",
        "ISMP high-alert drugs on the list (anticoagulants, insulin, opioids)",
        "count",
        EVERY,
    ),
    *(
        Feature(f"on_{c}", f"a drug of class {c.replace('_', ' ')} on the list", "0/1", EVERY)
        for c in MEDICATION_CLASSES
    ),
    Feature(
        "interacting_pairs",
        "pairs of drugs on the list the interaction knowledge base warns of",
        "count",
        EVERY,
    ),
    Feature(
        "severe_interacting_pairs",
        "of them, pairs whose severest rule is contraindicated or major",
        "count",
        EVERY,
    ),
]
CODED_ADVERSE_EVENTS = Feature(
    "adverse_drug_event_codes",
    "secondary codes of the stay that record an adverse drug event",
    "count",
    (DISCHARGE,),
)
MEDICATION_FEATURES = tuple(
    column for f in (*MEDICATION_LIST, CODED_ADVERSE_EVENTS) for column in f.columns
)
FEATURES: list[Feature] = [
    Feature("age_years", "age at admission, 90 for 90 and over", "years", EVERY),
    Feature("female", "sex recorded as female", "0/1", EVERY),
    Feature("payer", "primary payer", "0/1", STAY, PAYERS),
    Feature("admission_type", "type of admission", "0/1", EVERY, ADMISSION_TYPES),
    Feature("admission_source", "where the patient came from", "0/1", STAY, ADMISSION_SOURCES),
    Feature("unit", "admitting unit", "0/1", STAY, UNITS),
    Feature("facility_id", "facility of the stay (identifier used as a number)", "id", STAY),
    Feature("facility_type", "type of facility", "0/1", STAY, FACILITY_TYPES),
    Feature(
        "dx_group",
        "clinical group of the principal diagnosis (ICD-10-CM)",
        "0/1",
        EVERY,
        DIAGNOSIS_GROUPS,
    ),
    Feature(
        "charlson_index",
        "Charlson comorbidity index, Quan ICD-10 coding, unadjusted for age",
        "points",
        EVERY,
    ),
    *(
        Feature(
            f"cm_{name}",
            f"Charlson condition coded: {name.replace('_', ' ')}",
            "0/1",
            STAY,
        )
        for name in scores.CHARLSON_CONDITIONS
    ),
    Feature(
        "prior_admissions_12m",
        "admissions in the 12 months before this admission",
        "count",
        STAY,
    ),
    Feature(
        "ed_visits_6m",
        "ED visits in the 6 months before this admission (not counting its own)",
        "count",
        STAY,
    ),
    Feature("protocol", "treatment protocol chosen at admission", "0/1", STAY, PROTOCOLS),
    *(
        Feature(
            f"admit_{sign}",
            f"first {sign.replace('_', ' ')} recorded at admission",
            unit,
            (ADMISSION,),
        )
        for sign, unit in zip(
            VITAL_SIGNS, ("beats/min", "breaths/min", "%", "degrees C", "mmHg"), strict=True
        )
    ),
    Feature("admit_on_oxygen", "supplemental oxygen at the first observation", "0/1", (ADMISSION,)),
    Feature(
        "admit_not_alert",
        "not alert (ACVPU C, V, P or U) at the first observation",
        "0/1",
        (ADMISSION,),
    ),
    Feature("admit_news2_score", "NEWS2 of the first observation", "points", (ADMISSION,)),
    *(
        Feature(f"admit_{test}", f"{test} at admission", unit, (ADMISSION,))
        for test, unit in zip(
            LAB_TESTS, ("g/dL", "mmol/L", "mg/dL", "10^9/L", "mmol/L"), strict=True
        )
    ),
    *MEDICATION_LIST,
    Feature("los_days", "length of the stay", "days", (DISCHARGE,)),
    Feature("icu_days", "days in intensive care during the stay", "days", (DISCHARGE,)),
    Feature("disposition", "discharge destination", "0/1", (DISCHARGE,), DISPOSITIONS),
    *(
        Feature(f"discharge_{test}", f"last {test} before discharge", unit, (DISCHARGE,))
        for test, unit in zip(DISCHARGE_LABS, ("g/dL", "mmol/L", "mg/dL", "10^9/L"), strict=True)
    ),
    Feature("procedure_count", "ICD-10-PCS procedures during the stay", "count", (DISCHARGE,)),
    Feature("complication", "complication coded during the stay", "0/1", (DISCHARGE,)),
    Feature("deteriorated", "ICU transfer or rapid response during the stay", "0/1", (DISCHARGE,)),
    CODED_ADVERSE_EVENTS,
    Feature("lace_score", "LACE index (van Walraven 2010)", "points 0-19", (DISCHARGE,)),
    Feature("hospital_score", "HOSPITAL score (Donze 2013)", "points 0-13", (DISCHARGE,)),
    Feature(
        "hours_since_admission",
        "time from admission to this observation",
        "hours",
        (WARD,),
    ),
    *(
        Feature(sign, f"{sign.replace('_', ' ')} at this observation", unit, (WARD,))
        for sign, unit in zip(
            VITAL_SIGNS, ("beats/min", "breaths/min", "%", "degrees C", "mmHg"), strict=True
        )
    ),
    Feature("on_oxygen", "supplemental oxygen at this observation", "0/1", (WARD,)),
    Feature("not_alert", "not alert (ACVPU C, V, P or U) at this observation", "0/1", (WARD,)),
    *(
        Feature(
            f"news2_{part}",
            f"NEWS2 points for {part.replace('_', ' ')}",
            "points",
            (WARD,),
        )
        for part in scores.NEWS2_COMPONENTS
    ),
    Feature("news2_score", "NEWS2 total at this observation", "points 0-20", (WARD,)),
    Feature(
        "observations_so_far",
        "vitals observations in the stay up to this one",
        "count",
        (WARD,),
    ),
    *(
        Feature(f"latest_{test}", f"latest {test} drawn by this observation", unit, (WARD,))
        for test, unit in zip(
            LAB_TESTS, ("g/dL", "mmol/L", "mg/dL", "10^9/L", "mmol/L"), strict=True
        )
    ),
    Feature("hours_since_lab", "time since the latest lab draw", "hours", (WARD,)),
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
            (WARD,),
        )
        for hours in trend_hours
        for sign in TRENDED
        for kind, text in TREND_KINDS.items()
    ]


def feature_columns(case: str, trend_hours: list[int]) -> list[str]:
    """The model input columns of a case type, in a fixed order."""
    if case not in PREDICTION_TIMES:
        raise ValueError(f"unknown case type {case!r}: choose one of {', '.join(PREDICTION_TIMES)}")
    specs = [*FEATURES, *trend_features(trend_hours)]
    return [column for spec in specs if case in spec.cases for column in spec.columns]


# --------------------------------------------------------------------------------------------
# Shared pieces: cases come as a frame or as a mapping of column name to equal-length values


Cases = Mapping[str, Any]
Columns = dict[str, np.ndarray]


def _index(cases: Cases) -> pd.Index:
    if isinstance(cases, pd.DataFrame):
        return cases.index
    return pd.RangeIndex(len(next(iter(cases.values()))))


def _numbers(cases: Cases, column: str, rows: int) -> np.ndarray:
    """A column as float64: NaN where missing, or everywhere when the column is absent."""
    if column not in cases:
        return np.full(rows, np.nan)
    values = cases[column]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _labels(cases: Cases, column: str) -> np.ndarray:
    """A column as an object array, None where missing."""
    values = cases[column]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object, na_value=None)
    return np.asarray(values, dtype=object)


def one_hot(values: np.ndarray, name: str, levels: tuple[str, ...]) -> Columns:
    """Fixed one-hot columns ``name_<level>``; an unknown or missing value sets none of them."""
    return {f"{name}_{level}": (values == level).astype(np.float64) for level in levels}


def comorbidities(code_lists: Any) -> Columns:
    """Charlson flags (``cm_*``) and index per case from a column of ICD-10-CM code lists."""
    conditions = scores.charlson_conditions(code_lists)
    index = conditions.pop("charlson_index")
    return {f"cm_{name}": flag for name, flag in conditions.items()} | {"charlson_index": index}


def _news2(cases: Cases, rows: int, prefix: str = "") -> Columns:
    oxygen = _numbers(cases, f"{prefix}on_oxygen", rows)
    return scores.news2_components(
        respiratory_rate=_numbers(cases, f"{prefix}respiratory_rate", rows),
        spo2=_numbers(cases, f"{prefix}spo2", rows),
        on_oxygen=np.nan_to_num(oxygen) > 0,
        systolic_bp=_numbers(cases, f"{prefix}systolic_bp", rows),
        heart_rate=_numbers(cases, f"{prefix}heart_rate", rows),
        consciousness=_labels(cases, f"{prefix}consciousness"),
        temperature_c=_numbers(cases, f"{prefix}temperature_c", rows),
    )


def _not_alert(consciousness: np.ndarray) -> np.ndarray:
    """1 for ACVPU C, V, P or U, 0 for A, missing when not recorded."""
    return np.where(pd.isna(consciousness), np.nan, consciousness != "A").astype(np.float64)


def _either(values: np.ndarray, *levels: str) -> np.ndarray:
    return np.logical_or.reduce([values == level for level in levels])


def _frame(columns: Columns, case: str, index: pd.Index, trend_hours: tuple = ()) -> pd.DataFrame:
    """The case type's feature columns, in order, as one float64 frame (one block: cheap to build
    and to slice, whether one case or a million)."""
    names, header = _columns_of(case, trend_hours)
    matrix = np.empty((len(names), len(index)), dtype=np.float64)
    for row, name in enumerate(names):
        matrix[row] = columns[name]
    return pd.DataFrame(matrix.T, index=index, columns=header, copy=False)


@functools.cache
def _columns_of(case: str, trend_hours: tuple[int, ...]) -> tuple[tuple[str, ...], pd.Index]:
    """The case type's feature column names, and the same as a frame header (built once)."""
    names = tuple(feature_columns(case, list(trend_hours)))
    return names, pd.Index(names)


def _case_basics(cases: Cases, rows: int) -> Columns:
    return {
        "age_years": _numbers(cases, "age_years", rows),
        "female": (_labels(cases, "sex") == "F").astype(np.float64),
        **one_hot(_labels(cases, "admission_type"), "admission_type", ADMISSION_TYPES),
        **one_hot(
            scores.diagnosis_group(_labels(cases, "primary_dx_code")), "dx_group", DIAGNOSIS_GROUPS
        ),
    }


# --------------------------------------------------------------------------------------------
# At admission (and the admission part of the discharge case)


def _stay_features(cases: Cases, rows: int) -> Columns:
    """What every stay-level task knows: who, how admitted, where, comorbidity, history, plan."""
    return {
        **_case_basics(cases, rows),
        **one_hot(_labels(cases, "payer"), "payer", PAYERS),
        **one_hot(_labels(cases, "admission_source"), "admission_source", ADMISSION_SOURCES),
        **one_hot(_labels(cases, "unit"), "unit", UNITS),
        "facility_id": _numbers(cases, "facility_id", rows),
        **one_hot(_labels(cases, "facility_type"), "facility_type", FACILITY_TYPES),
        **comorbidities(cases["comorbidity_codes"]),
        "prior_admissions_12m": _numbers(cases, "prior_admissions_12m", rows),
        "ed_visits_6m": _numbers(cases, "ed_visits_6m", rows),
        **one_hot(_labels(cases, "treatment_protocol"), "protocol", PROTOCOLS),
    }


def _lists(cases: Cases, column: str) -> list[list]:
    """A column of lists (codes), an empty list where missing."""
    return [list(v) if v is not None and not isinstance(v, float) else [] for v in cases[column]]


def _medication_list(cases: Cases, kb: KnowledgeBase) -> Columns:
    """The list's features from ``medication_codes`` and ``home_medication_codes`` (RxNorm)."""
    home = interactions.list_matrix(kb, _lists(cases, "home_medication_codes"))
    on = interactions.list_matrix(kb, _lists(cases, "medication_codes")) | home
    return interactions.list_features(kb, on, home, MEDICATION_CLASSES)


def admission_features(cases: Cases, kb: KnowledgeBase) -> pd.DataFrame:
    """Features known at admission, from one row per stay (a frame, or a mapping of columns).

    Columns used: age_years, sex, payer, admission_type, admission_source, unit, facility_id,
    facility_type, primary_dx_code, comorbidity_codes (list of codes present on admission),
    prior_admissions_12m, ed_visits_6m, treatment_protocol, the first vitals and labs
    (admit_<sign>, admit_on_oxygen, admit_consciousness, admit_<test>), any of them missing, and
    the medicines ordered so far (medication_codes, home_medication_codes: lists of RxNorm codes).
    """
    index = _index(cases)
    rows = len(index)
    first_look = {
        **{f"admit_{sign}": _numbers(cases, f"admit_{sign}", rows) for sign in VITAL_SIGNS},
        "admit_on_oxygen": _numbers(cases, "admit_on_oxygen", rows),
        "admit_not_alert": _not_alert(_labels(cases, "admit_consciousness")),
        "admit_news2_score": scores.news2_score(_news2(cases, rows, "admit_")),
        **{f"admit_{test}": _numbers(cases, f"admit_{test}", rows) for test in LAB_TESTS},
    }
    columns = _stay_features(cases, rows) | first_look | _medication_list(cases, kb)
    return _frame(columns, ADMISSION, index)


# --------------------------------------------------------------------------------------------
# At discharge


def discharge_features(cases: Cases, kb: KnowledgeBase) -> pd.DataFrame:
    """Features at discharge, from one row per stay (a frame, or a mapping of columns).

    Columns used: those of ``admission_features`` but the first vitals and labs
    (``comorbidity_codes`` now every secondary code of the stay, the medicines every order of
    it), plus los_days, icu_days, discharge_disposition, discharge_<test>, procedure_count,
    complication, deteriorated.
    """
    index = _index(cases)
    rows = len(index)
    columns = _stay_features(cases, rows) | _medication_list(cases, kb)
    columns["adverse_drug_event_codes"] = np.array(
        [
            sum(code in kb.event_codes for code in codes)
            for codes in _lists(cases, "comorbidity_codes")
        ],
        dtype=np.float64,
    )
    los_days = _numbers(cases, "los_days", rows)
    procedures = np.nan_to_num(_numbers(cases, "procedure_count", rows))
    admission_type, labs = _labels(cases, "admission_type"), {}
    for test in DISCHARGE_LABS:
        labs[f"discharge_{test}"] = _numbers(cases, f"discharge_{test}", rows)
    columns |= labs | {
        "los_days": los_days,
        "icu_days": np.nan_to_num(_numbers(cases, "icu_days", rows)),
        "procedure_count": procedures,
        "complication": _numbers(cases, "complication", rows),
        "deteriorated": _numbers(cases, "deteriorated", rows),
        **one_hot(_labels(cases, "discharge_disposition"), "disposition", DISPOSITIONS),
        "lace_score": scores.lace_score(
            los_days,
            acute=_either(admission_type, *UNPLANNED_ADMISSION_TYPES),
            charlson=columns["charlson_index"],
            ed_visits_6m=np.nan_to_num(columns["ed_visits_6m"]),
        ),
        "hospital_score": scores.hospital_score(
            haemoglobin=labs["discharge_haemoglobin"],
            oncology=_labels(cases, "unit") == ONCOLOGY_UNIT,
            sodium=labs["discharge_sodium"],
            procedure=procedures > 0,
            urgent=_either(admission_type, *UNPLANNED_ADMISSION_TYPES),
            admissions_12m=np.nan_to_num(columns["prior_admissions_12m"]),
            los_days=los_days,
        ),
    }
    return _frame(columns, DISCHARGE, index)


# --------------------------------------------------------------------------------------------
# At each vitals observation of a ward stay


def ward_features(
    stays: Cases,
    observations: Cases,
    labs: Cases,
    medications: Cases,
    trend_hours: list[int],
    kb: KnowledgeBase,
) -> pd.DataFrame:
    """Features at every observation, from that observation and earlier ones of the same stay.

    ``stays``: one row per stay (stay_key, admitted_at, age_years, sex, admission_type,
    primary_dx_code, comorbidity_codes present on admission). ``observations``: stay_key,
    observed_at and the vitals. ``labs``: stay_key, drawn_at, test, value. ``medications``:
    stay_key, rxnorm_code, source, ordered_at, stopped_at (missing: not stopped). Each a frame or
    a mapping of columns. Returns one row per observation, indexed like ``observations``.
    """
    index = _index(observations)
    rows = len(index)
    stay_keys = pd.Index(_labels(stays, "stay_key"))
    stay_of = stay_keys.get_indexer(_labels(observations, "stay_key"))
    if (stay_of < 0).any():
        raise ValueError("observations of a stay missing from the stays")
    lab_stay = stay_keys.get_indexer(_labels(labs, "stay_key"))
    known = lab_stay >= 0
    order_stay = stay_keys.get_indexer(_labels(medications, "stay_key"))
    ordered = order_stay >= 0
    observed_ms, drawn_ms = _epoch_ms(observations["observed_at"]), _epoch_ms(labs["drawn_at"])
    ordered_ms = _epoch_ms(medications["ordered_at"])[ordered]
    stopped_ms = _epoch_ms(medications["stopped_at"])[ordered]
    clock = _Timeline.covering(
        np.concatenate(
            [observed_ms, drawn_ms[known], ordered_ms, stopped_ms[stopped_ms != _NOT_A_TIME]]
        ),
        max(trend_hours, default=0),
    )

    news2 = _news2(observations, rows)
    per_stay = _case_basics(stays, len(stay_keys)) | {
        "charlson_index": comorbidities(stays["comorbidity_codes"])["charlson_index"]
    }
    admitted_ms = _epoch_ms(stays["admitted_at"])
    columns = {name: values[stay_of] for name, values in per_stay.items()} | {
        "hours_since_admission": (observed_ms - admitted_ms[stay_of]) / _MS_PER_HOUR,
        **{sign: _numbers(observations, sign, rows) for sign in VITAL_SIGNS},
        "on_oxygen": np.nan_to_num(_numbers(observations, "on_oxygen", rows)),
        "not_alert": (_labels(observations, "consciousness") != "A").astype(np.float64),
        **{f"news2_{part}": news2[part] for part in scores.NEWS2_COMPONENTS},
        "news2_score": scores.news2_score(news2),
    }
    when = clock.place(stay_of, observed_ms)
    columns |= _trends(columns, stay_of, when, trend_hours)
    draws = {
        "stay": lab_stay[known],
        "when": clock.place(lab_stay[known], drawn_ms[known]),
        "drawn_ms": drawn_ms[known],
        "test": _labels(labs, "test")[known],
        "value": _numbers(labs, "value", len(lab_stay))[known],
    }
    columns |= _latest_labs(stay_of, when, observed_ms, draws)
    orders = {
        "stay": order_stay[ordered],
        "drug": interactions.drug_columns(kb, _labels(medications, "rxnorm_code")[ordered]),
        "home": _labels(medications, "source")[ordered] == HOME,
        "from": clock.place(order_stay[ordered], ordered_ms),
        "until": np.where(
            stopped_ms == _NOT_A_TIME,
            clock.end_of(order_stay[ordered]),
            clock.place(order_stay[ordered], stopped_ms),
        ),
    }
    columns |= _active_medicines(when, orders, kb)
    return _frame(columns, WARD, index, tuple(trend_hours))


_MS_PER_HOUR = 3_600_000
_NOT_A_TIME = np.datetime64("NaT", "ms").astype(np.int64)
HOME = "home"  # the source of a home medicine continued in hospital


def _epoch_ms(values: Any) -> np.ndarray:
    """Times as integer milliseconds (naive times, as the clean tables and requests hold them)."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    return np.asarray(values, dtype="datetime64[ms]").astype(np.int64)


@dataclass(frozen=True)
class _Timeline:
    """One integer time line for all stays: each stay gets its own stretch, wider than the data
    plus the longest window, so that no search over time reaches from one stay into another."""

    origin_ms: int
    stretch_ms: int

    @classmethod
    def covering(cls, times_ms: np.ndarray, longest_window_hours: int) -> _Timeline:
        origin = int(times_ms.min(initial=0))
        span = int(times_ms.max(initial=0)) - origin
        return cls(origin, span + (longest_window_hours + 1) * _MS_PER_HOUR)

    def place(self, stay: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        return stay.astype(np.int64) * self.stretch_ms + (times_ms - self.origin_ms)

    def end_of(self, stay: np.ndarray) -> np.ndarray:
        """Past every time of the stay: where what is never stopped stops."""
        return (stay.astype(np.int64) + 1) * self.stretch_ms - 1


def _active_medicines(
    when: np.ndarray, orders: dict[str, np.ndarray], kb: KnowledgeBase
) -> Columns:
    """The list's features at each observation (``when``, on the time line): the orders of its
    stay placed by then and not yet stopped. Each order is active over a run of the sorted
    observations; the runs are added up with a difference array."""
    order = np.argsort(when, kind="stable")
    ordered = when[order]
    start = np.searchsorted(ordered, orders["from"], side="left")
    end = np.searchsorted(ordered, orders["until"], side="left")
    counts = {}
    for name, mine in (("on", np.ones(len(start), dtype=bool)), ("home", orders["home"])):
        change = np.zeros((len(when) + 1, len(kb.position)), dtype=np.int32)
        np.add.at(change, (start[mine], orders["drug"][mine]), 1)
        np.add.at(change, (end[mine], orders["drug"][mine]), -1)
        active = np.empty((len(when), len(kb.position)), dtype=bool)
        active[order] = np.cumsum(change, axis=0)[:-1] > 0
        counts[name] = active
    return interactions.list_features(kb, counts["on"], counts["home"], MEDICATION_CLASSES)


def _trends(
    columns: Columns, stay_of: np.ndarray, when: np.ndarray, trend_hours: list[int]
) -> Columns:
    """The count of observations so far and, per window of N hours, the value now minus the
    last one at least N hours before and the highest and lowest values within the window (this
    observation included).

    Works on the sorted time line of all stays with binary search for the window starts: fast on
    a million observations, exact for any spacing of the observations.
    """
    order = np.argsort(when, kind="stable")
    ordered = when[order]
    positions = np.arange(len(order))
    stay = stay_of[order]
    first_of_stay = np.r_[True, stay[1:] != stay[:-1]] if len(stay) else np.zeros(0, bool)
    stay_start = np.maximum.accumulate(np.where(first_of_stay, positions, 0))
    trends = {"observations_so_far": np.empty(len(order))}
    trends["observations_so_far"][order] = positions - stay_start + 1
    for hours in trend_hours:
        width = hours * _MS_PER_HOUR
        first_inside = np.searchsorted(ordered, ordered - width, side="left")
        last_before = np.searchsorted(ordered, ordered - width, side="right") - 1
        has_before = last_before >= stay_start
        span = int((positions - first_inside).max(initial=0))
        for sign in TRENDED:
            values = columns[sign][order]
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
                trends[f"{sign}_{name}_{hours}h"] = unsorted
    return trends


def _latest_labs(
    stay_of: np.ndarray, when: np.ndarray, observed_ms: np.ndarray, draws: Columns
) -> Columns:
    """The latest value of each test drawn at or before each observation, and the age of the
    latest draw in hours. ``draws``: stay, when (on the observations' time line), drawn_ms, test
    and value of each lab draw."""
    order = np.argsort(draws["when"], kind="stable")
    draws = {name: values[order] for name, values in draws.items()}

    def latest(chosen: np.ndarray, of: str) -> np.ndarray:
        """``of`` of the latest chosen draw at or before each observation of the same stay."""
        if not chosen.any():
            return np.full(len(when), np.nan)
        at = np.searchsorted(draws["when"][chosen], when, side="right") - 1
        safe = np.maximum(at, 0)
        found = (at >= 0) & (draws["stay"][chosen][safe] == stay_of)
        return np.where(found, draws[of][chosen][safe], np.nan)

    columns = {f"latest_{test}": latest(draws["test"] == test, "value") for test in LAB_TESTS}
    newest_ms = latest(_either(draws["test"], *LAB_TESTS), "drawn_ms")
    columns["hours_since_lab"] = (observed_ms - newest_ms) / _MS_PER_HOUR
    return columns
