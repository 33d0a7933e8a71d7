"""Clinical scores and code groupings: Charlson (Quan 2005 ICD-10), LACE, HOSPITAL, NEWS2.

Pure, vectorised functions over arrays or frames, shared by the batch pipeline and the server.
Point tables follow ../shared/CLINICAL.md; where it marked a line "verify", the source checked is
named beside the code.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------
# ICD-10 code groupings


def _expand(spec: str) -> list[str]:
    """'I42.5-I42.9' -> ['I425', ..., 'I429']; 'F00-F03' -> ['F00', ..., 'F03']."""
    spec = spec.replace(".", "")
    if "-" not in spec:
        return [spec]
    first, last = spec.split("-")
    stem = first[:-1]
    if last[:-1] != stem:
        raise ValueError(f"range {spec!r} must differ only in its last character")
    return [stem + str(d) for d in range(int(first[-1]), int(last[-1]) + 1)]


def _prefixes(specs: str) -> tuple[str, ...]:
    return tuple(p for spec in specs.split(",") for p in _expand(spec.strip()))


def _diabetes(subcodes: str) -> str:
    return ",".join(f"E1{n}.{d}" for n in range(5) for d in subcodes)


# Quan et al., Med Care 2005, ICD-10 coding of the Charlson conditions (../shared/CLINICAL.md).
CHARLSON_CONDITIONS: dict[str, tuple[int, tuple[str, ...]]] = {
    "myocardial_infarction": (1, _prefixes("I21, I22, I25.2")),
    "congestive_heart_failure": (1, _prefixes(
        "I09.9, I11.0, I13.0, I13.2, I25.5, I42.0, I42.5-I42.9, I43, I50, P29.0")),
    "peripheral_vascular": (1, _prefixes(
        "I70, I71, I73.1, I73.8, I73.9, I77.1, I79.0, I79.2, K55.1, K55.8, K55.9, Z95.8, Z95.9")),
    "cerebrovascular": (1, _prefixes("G45, G46, H34.0, I60-I69")),
    "dementia": (1, _prefixes("F00-F03, F05.1, G30, G31.1")),
    "chronic_pulmonary": (1, _prefixes(
        "J40-J47, J60-J67, I27.8, I27.9, J68.4, J70.1, J70.3")),
    "rheumatic": (1, _prefixes("M05, M06, M31.5, M32-M34, M35.1, M35.3, M36.0")),
    "peptic_ulcer": (1, _prefixes("K25-K28")),
    "mild_liver": (1, _prefixes(
        "B18, K70.0-K70.3, K70.9, K71.3-K71.5, K71.7, K73, K74, K76.0, K76.2-K76.4, K76.8, "
        "K76.9, Z94.4")),
    "diabetes_uncomplicated": (1, _prefixes(_diabetes("01689"))),
    "diabetes_complicated": (2, _prefixes(_diabetes("23457"))),
    "hemiplegia": (2, _prefixes("G04.1, G11.4, G80.1, G80.2, G81, G82, G83.0-G83.4, G83.9")),
    "renal": (2, _prefixes(
        "I12.0, I13.1, N03.2-N03.7, N05.2-N05.7, N18, N19, N25.0, Z49.0-Z49.2, Z94.0, Z99.2")),
    "malignancy": (2, _prefixes(
        "C00-C09, C10-C19, C20-C26, C30-C34, C37-C39, C40, C41, C43, C45-C49, C50-C58, C60-C69, "
        "C70-C76, C81-C85, C88, C90-C97")),
    "moderate_severe_liver": (3, _prefixes(
        "I85.0, I85.9, I86.4, I98.2, K70.4, K71.1, K72.1, K72.9, K76.5-K76.7")),
    "metastatic_tumour": (6, _prefixes("C77-C79, C80")),
    "hiv_aids": (6, _prefixes("B20-B22, B24")),
}  # fmt: skip
# A condition present in its mild and severe form counts once, at the higher weight.
CHARLSON_HIERARCHY = {
    "diabetes_uncomplicated": "diabetes_complicated",
    "mild_liver": "moderate_severe_liver",
    "malignancy": "metastatic_tumour",
}

# Principal-diagnosis groups, in the spirit of AHRQ CCSR, coarse enough for small samples.
DIAGNOSIS_GROUPS: dict[str, tuple[str, ...]] = {
    "sepsis": _prefixes("A40, A41"),
    "heart_failure": _prefixes("I50, I11.0, I13.0, I13.2"),
    "copd_asthma": _prefixes("J43, J44, J45"),
    "pneumonia": _prefixes("J12-J18"),
    "influenza": _prefixes("J09, J10, J11"),
    "acute_mi": _prefixes("I21, I22"),
    "arrhythmia": _prefixes("I47, I48, I49"),
    "stroke": _prefixes("I60-I64"),
    "diabetes": _prefixes("E10-E14"),
    "urinary_infection": _prefixes("N10, N39.0"),
    "acute_kidney_injury": _prefixes("N17"),
    "gi_bleed": _prefixes("K92.0-K92.2, K25.0, K25.4, K26.0, K26.4, K27.0, K27.4"),
    "cellulitis": _prefixes("L03"),
    "hip_fracture": _prefixes("S72"),
    "osteoarthritis": _prefixes("M15-M19"),
    "cancer": _prefixes("C00-C09, C10-C19, C20-C26, C30-C39, C40-C49, C50-C58, C60-C69, "
                        "C70-C79, C80-C89, C90-C97"),
    "abdominal_surgical": _prefixes("K35-K38, K40-K46, K56, K80-K81"),
}  # fmt: skip
OTHER_GROUP = "other"


def _normalise(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _by_prefix(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {prefix: name for name, prefixes in table.items() for prefix in prefixes}


_GROUP_BY_PREFIX = _by_prefix(DIAGNOSIS_GROUPS)
_CONDITION_BY_PREFIX = _by_prefix({name: p for name, (_, p) in CHARLSON_CONDITIONS.items()})
_CONDITION_BIT = {name: 1 << bit for bit, name in enumerate(CHARLSON_CONDITIONS)}


def _prefixes_of(code: str) -> list[str]:
    normalised = _normalise(code)
    return [normalised[:length] for length in range(len(normalised), 2, -1)]


@functools.lru_cache(maxsize=65536)
def code_group(code: str) -> str:
    """The principal-diagnosis group of one ICD-10-CM code (longest matching prefix wins)."""
    for prefix in _prefixes_of(code):
        if prefix in _GROUP_BY_PREFIX:
            return _GROUP_BY_PREFIX[prefix]
    return OTHER_GROUP


@functools.lru_cache(maxsize=65536)
def code_conditions(code: str) -> int:
    """The Charlson conditions one ICD-10-CM code indicates, as a bit mask."""
    mask = 0
    for prefix in _prefixes_of(code):
        if prefix in _CONDITION_BY_PREFIX:
            mask |= _CONDITION_BIT[_CONDITION_BY_PREFIX[prefix]]
    return mask


def diagnosis_group(codes: Iterable) -> np.ndarray:
    """The clinical group of each principal-diagnosis code ('other' when none fits or missing)."""
    return np.array(
        [code_group(code) if isinstance(code, str) else OTHER_GROUP for code in codes], dtype=object
    )


_WEIGHTS = np.array([weight for weight, _ in CHARLSON_CONDITIONS.values()])


def charlson_conditions(code_lists: Iterable[Iterable]) -> dict[str, np.ndarray]:
    """Per case (one list of ICD-10-CM codes each): a 0/1 flag per Charlson condition and the
    Charlson index (unadjusted for age) under ``charlson_index``."""
    masks = np.array([_conditions_mask(codes) for codes in code_lists], dtype=np.int64)
    flags = {name: (masks & bit) > 0 for name, bit in _CONDITION_BIT.items()}
    for mild, severe in CHARLSON_HIERARCHY.items():
        flags[mild] &= ~flags[severe]
    conditions = {name: flag.astype(np.float64) for name, flag in flags.items()}
    index = np.column_stack(list(conditions.values())) @ _WEIGHTS
    return conditions | {"charlson_index": index.astype(np.float64)}


def _conditions_mask(codes) -> int:
    """The conditions of a list of codes (a missing list, or missing codes, indicate none)."""
    if not isinstance(codes, list | tuple | np.ndarray):
        return 0
    return functools.reduce(
        operator.or_, (code_conditions(c) for c in codes if isinstance(c, str)), 0
    )


# --------------------------------------------------------------------------------------------
# LACE (van Walraven et al., CMAJ 2010)


def lace_length_points(los_days: np.ndarray) -> np.ndarray:
    """L: <1 day 0, 1: 1, 2: 2, 3: 3, 4-6: 4, 7-13: 5, >=14: 7 (whole days of stay)."""
    days = np.floor(np.asarray(los_days, dtype=float))
    return np.select([days < 1, days < 4, days < 7, days < 14], [0, days, 4, 5], 7).astype(int)


def lace_comorbidity_points(charlson: np.ndarray) -> np.ndarray:
    """C: Charlson 0, 1, 2, 3 score as is; 4 or more scores 5."""
    charlson = np.asarray(charlson)
    return np.where(charlson >= 4, 5, charlson).astype(int)


def lace_score(
    los_days: np.ndarray, acute: np.ndarray, charlson: np.ndarray, ed_visits_6m: np.ndarray
) -> np.ndarray:
    """LACE index, 0-19: length of stay, acute admission (3), Charlson, ED visits in 6 months."""
    return (
        lace_length_points(los_days)
        + 3 * np.asarray(acute, dtype=bool)
        + lace_comorbidity_points(charlson)
        + np.minimum(np.asarray(ed_visits_6m), 4)
    ).astype(int)


# --------------------------------------------------------------------------------------------
# HOSPITAL (Donzé et al., JAMA Intern Med 2013)


def hospital_admission_points(admissions_12m: np.ndarray) -> np.ndarray:
    """A: admissions in the previous 12 months 0-1: 0, 2-5: 2, more than 5: 5.

    Checked against Donzé 2013 and the simplified HOSPITAL score (Aubert et al. 2017), both
    0-1 / 2-5 / >5.
    """
    admissions = np.asarray(admissions_12m)
    return np.select([admissions <= 1, admissions <= 5], [0, 2], 5).astype(int)


def hospital_score(
    haemoglobin: np.ndarray,
    oncology: np.ndarray,
    sodium: np.ndarray,
    procedure: np.ndarray,
    urgent: np.ndarray,
    admissions_12m: np.ndarray,
    los_days: np.ndarray,
) -> np.ndarray:
    """HOSPITAL score, 0-13. A missing discharge lab scores as normal (0 points)."""
    with np.errstate(invalid="ignore"):
        low_hb = np.asarray(haemoglobin, dtype=float) < 12.0
        low_na = np.asarray(sodium, dtype=float) < 135.0
    return (
        low_hb
        + 2 * np.asarray(oncology, dtype=bool)
        + low_na
        + np.asarray(procedure, dtype=bool)
        + np.asarray(urgent, dtype=bool)
        + hospital_admission_points(admissions_12m)
        + 2 * (np.asarray(los_days, dtype=float) >= 5)
    ).astype(int)


# --------------------------------------------------------------------------------------------
# NEWS2 (Royal College of Physicians, 2017)

NEWS2_COMPONENTS = (
    "respiratory_rate",
    "spo2",
    "oxygen",
    "systolic_bp",
    "heart_rate",
    "consciousness",
    "temperature",
)


def _banded(values: np.ndarray, upper_bounds: list[float], points: list[int]) -> np.ndarray:
    """Points of the first band whose inclusive upper bound holds the value; NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    scored = np.select([values <= b for b in upper_bounds], points[:-1], points[-1]).astype(float)
    return np.where(np.isnan(values), np.nan, scored)


def news2_components(
    respiratory_rate: np.ndarray,
    spo2: np.ndarray,
    on_oxygen: np.ndarray,
    systolic_bp: np.ndarray,
    heart_rate: np.ndarray,
    consciousness: np.ndarray,
    temperature_c: np.ndarray,
    hypercapnic: np.ndarray | bool = False,
) -> dict[str, np.ndarray]:
    """Points per NEWS2 parameter, NaN where it is missing. ``hypercapnic`` selects SpO2 scale 2
    (target 88-92%).

    SpO2 scale 2 checked against the RCP 2017 chart and Thorax 2019 (Pilcher et al.) Table 1.
    """
    oxygen = np.asarray(on_oxygen, dtype=bool)
    spo2 = np.asarray(spo2, dtype=float)
    scale1 = _banded(spo2, [91, 93, 95], [3, 2, 1, 0])
    scale2_low = _banded(spo2, [83, 85, 87], [3, 2, 1, 0])
    scale2_on_oxygen = np.select([spo2 <= 92, spo2 <= 94, spo2 <= 96], [0, 1, 2], 3)
    scale2 = np.where((spo2 >= 93) & oxygen, scale2_on_oxygen, scale2_low)
    consciousness = np.asarray(consciousness, dtype=object)
    return {
        "respiratory_rate": _banded(respiratory_rate, [8, 11, 20, 24], [3, 1, 0, 2, 3]),
        "spo2": np.where(
            np.isnan(spo2),
            np.nan,
            np.where(np.asarray(hypercapnic, dtype=bool), scale2, scale1),
        ),
        "oxygen": 2.0 * oxygen,
        "systolic_bp": _banded(systolic_bp, [90, 100, 110, 219], [3, 2, 1, 0, 3]),
        "heart_rate": _banded(heart_rate, [40, 50, 90, 110, 130], [3, 1, 0, 1, 2, 3]),
        "consciousness": np.where(pd.isna(consciousness), np.nan, 3.0 * (consciousness != "A")),
        "temperature": _banded(temperature_c, [35.0, 36.0, 38.0, 39.0], [3, 1, 0, 1, 2]),
    }


def news2_score(components: Mapping[str, np.ndarray]) -> np.ndarray:
    """Total NEWS2 (0-20) from ``news2_components``; NaN when a parameter is missing."""
    return np.sum([components[part] for part in NEWS2_COMPONENTS], axis=0)
