"""Validation of the raw tables: pandera models per table, cross-table rules, and quarantine.

Every row either passes every check or goes to quarantine with the checks and columns it failed;
nothing is dropped silently. Checks run lazily (all failures are collected), in two passes: rows
whose values cannot even be read as the declared type are set aside first, so that the range and
format checks can run on the rest.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from configs import vocabulary as v
from configs.data_gen import Drug
from configs.features import Etl

ICD10CM = r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"
ICD10PCS = r"^[0-9A-HJ-NP-Z]{7}$"
TABLE_ORDER = (
    "facilities",
    "nurse_staffing",
    "ed_providers",
    "patients",
    "encounters",
    "diagnoses",
    "procedures",
    "claims",
    "medications",
    "vitals",
    "labs",
    "ed_visits",
)
# Fields the clean tables drop (direct identifiers; the ZIP code becomes ZIP3) or may leave empty:
# a bad value there is nulled and counted, not a reason to lose the row, and with a patient or a
# stay every record that hangs on it. Every other field is needed: a bad value quarantines the row.
NULLED_WHEN_INVALID = {
    "patients": ["mrn", "ssn", "first_name", "last_name", "address", "city", "state", "zip",
                 "phone"],
    "encounters": ["satisfaction_score"],
    "procedures": ["description"],
}  # fmt: skip
# Each table's key: a row repeating an earlier row's key is quarantined.
KEYS = {
    "facilities": ["facility_id"],
    "nurse_staffing": ["facility_id", "unit", "shift_start"],
    "ed_providers": ["facility_id", "hour"],
    "patients": ["patient_id"],
    "encounters": ["encounter_id"],
    "diagnoses": ["encounter_id", "position"],
    "procedures": ["procedure_id"],
    "claims": ["encounter_id"],
    "medications": ["order_id"],
    "vitals": ["observation_id"],
    "labs": ["lab_id"],
    "ed_visits": ["ed_visit_id"],
}


def _unique(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """True except for repeats of an earlier row's key (the first occurrence is kept)."""
    return ~frame.duplicated(columns, keep="first")


def _in_order(earlier: pd.Series, later: pd.Series) -> pd.Series:
    """True where ``later`` is not before ``earlier`` (a missing value is not an ordering error)."""
    return (later >= earlier) | earlier.isna() | later.isna()


class Facilities(pa.DataFrameModel):
    facility_id: Series[int] = pa.Field(ge=1, coerce=True)
    name: Series[str]
    type: Series[str] = pa.Field(isin=v.FACILITY_TYPES)
    region: Series[str]
    zip3: Series[str] = pa.Field(str_matches=r"^\d{3}$")
    staffed_beds: Series[int] = pa.Field(ge=1, coerce=True)
    icu_beds: Series[int] = pa.Field(ge=0, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="facility_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["facility_id"])


class NurseStaffing(pa.DataFrameModel):
    facility_id: Series[int] = pa.Field(ge=1, coerce=True)
    unit: Series[str] = pa.Field(isin=v.UNITS)
    shift_start: Series[pa.DateTime] = pa.Field(coerce=True)
    shift: Series[str] = pa.Field(isin=v.SHIFTS)
    scheduled_rn: Series[int] = pa.Field(ge=0, coerce=True)
    sick_calls: Series[int] = pa.Field(ge=0, coerce=True)
    float_in_rn: Series[int] = pa.Field(ge=0, coerce=True)
    float_out_rn: Series[int] = pa.Field(ge=0, coerce=True)
    overtime_rn: Series[int] = pa.Field(ge=0, coerce=True)
    agency_rn: Series[int] = pa.Field(ge=0, coerce=True)
    worked_rn: Series[int] = pa.Field(ge=0, coerce=True)
    cost_usd: Series[float] = pa.Field(ge=0, coerce=True)
    rn_hours: Series[float] = pa.Field(ge=0, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="facility_id, unit and shift_start are repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["facility_id", "unit", "shift_start"])

    @pa.dataframe_check(
        error="worked_rn is not scheduled - sick + floats in - out + overtime + agency"
    )
    def nurses_add_up(cls, frame: pd.DataFrame) -> Series[bool]:
        came = frame["scheduled_rn"] - frame["sick_calls"] - frame["float_out_rn"]
        came += frame["float_in_rn"] + frame["overtime_rn"] + frame["agency_rn"]
        return frame["worked_rn"] == came


class EdProviders(pa.DataFrameModel):
    facility_id: Series[int] = pa.Field(ge=1, coerce=True)
    hour: Series[int] = pa.Field(ge=0, le=23, coerce=True)
    providers: Series[int] = pa.Field(ge=1, le=100, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="facility_id and hour are repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["facility_id", "hour"])


class Patients(pa.DataFrameModel):
    patient_id: Series[int] = pa.Field(ge=1, coerce=True)
    mrn: Series[str] = pa.Field(str_matches=r"^\d{8}$")
    ssn: Series[str] = pa.Field(str_matches=r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
    first_name: Series[str]
    last_name: Series[str]
    birth_date: Series[pa.DateTime] = pa.Field(coerce=True)
    sex: Series[str] = pa.Field(isin=v.SEXES)
    race: Series[str] = pa.Field(isin=v.RACES)
    ethnicity: Series[str] = pa.Field(isin=v.ETHNICITIES)
    address: Series[str]
    city: Series[str]
    state: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$")
    zip: Series[str] = pa.Field(str_matches=r"^\d{5}$")
    phone: Series[str]
    payer: Series[str] = pa.Field(isin=v.PAYERS)
    home_facility_id: Series[int] = pa.Field(ge=1, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="patient_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["patient_id"])


class Encounters(pa.DataFrameModel):
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    patient_id: Series[int] = pa.Field(ge=1, coerce=True)
    facility_id: Series[int] = pa.Field(ge=1, coerce=True)
    admitted_at: Series[pa.DateTime] = pa.Field(coerce=True)
    discharged_at: Series[pa.DateTime] = pa.Field(coerce=True)
    admission_type: Series[str] = pa.Field(isin=v.ADMISSION_TYPES)
    admission_source: Series[str] = pa.Field(isin=v.ADMISSION_SOURCES)
    unit: Series[str] = pa.Field(isin=v.UNITS)
    ward_unit: Series[str] = pa.Field(isin=v.WARD_UNITS)
    primary_dx_code: Series[str] = pa.Field(str_matches=ICD10CM)
    discharge_disposition: Series[str] = pa.Field(isin=v.DISCHARGE_DISPOSITIONS)
    icu_days: Series[float] = pa.Field(coerce=True)
    deterioration_event: Series[str] = pa.Field(isin=v.DETERIORATION_EVENTS, nullable=True)
    deterioration_at: Series[pa.DateTime] = pa.Field(coerce=True, nullable=True)
    treatment_protocol: Series[str] = pa.Field(isin=v.PROTOCOLS)
    treatment_success: Series[bool] = pa.Field(coerce=True)
    complication: Series[bool] = pa.Field(coerce=True)
    total_cost_usd: Series[float] = pa.Field(coerce=True)
    satisfaction_score: Series[pd.Int8Dtype] = pa.Field(ge=0, le=10, coerce=True, nullable=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="encounter_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["encounter_id"])

    @pa.dataframe_check(error="discharged_at is not after admitted_at")
    def discharge_after_admission(cls, frame: pd.DataFrame) -> Series[bool]:
        return frame["discharged_at"] > frame["admitted_at"]

    @pa.dataframe_check(error="deterioration_at is outside the stay")
    def deterioration_during_stay(cls, frame: pd.DataFrame) -> Series[bool]:
        at = frame["deterioration_at"]
        return at.isna() | ((at >= frame["admitted_at"]) & (at <= frame["discharged_at"]))

    @pa.dataframe_check(error="icu_days exceeds the length of stay")
    def icu_within_stay(cls, frame: pd.DataFrame) -> Series[bool]:
        stay_days = (frame["discharged_at"] - frame["admitted_at"]).dt.total_seconds() / 86400
        return frame["icu_days"] <= stay_days + 1e-6


class Diagnoses(pa.DataFrameModel):
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    code: Series[str] = pa.Field(str_matches=ICD10CM)
    present_on_admission: Series[bool] = pa.Field(coerce=True)
    position: Series[int] = pa.Field(ge=1, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="(encounter_id, position) is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["encounter_id", "position"])


class Procedures(pa.DataFrameModel):
    procedure_id: Series[int] = pa.Field(ge=1, coerce=True)
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    code: Series[str] = pa.Field(str_matches=ICD10PCS)
    description: Series[str]
    performed_at: Series[pa.DateTime] = pa.Field(coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="procedure_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["procedure_id"])


class Claims(pa.DataFrameModel):
    claim_id: Series[int] = pa.Field(ge=1, coerce=True)
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    payer: Series[str] = pa.Field(isin=v.PAYERS)
    billed_at: Series[pa.DateTime] = pa.Field(coerce=True)
    drg_severity: Series[str] = pa.Field(isin=v.DRG_SEVERITIES)
    drg_weight: Series[float] = pa.Field(gt=0, le=30, coerce=True)
    charges_usd: Series[float] = pa.Field(ge=0, coerce=True)
    allowed_usd: Series[float] = pa.Field(ge=0, coerce=True)
    initially_denied: Series[bool] = pa.Field(coerce=True)
    paid_usd: Series[float] = pa.Field(ge=0, coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="encounter_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["encounter_id"])

    @pa.dataframe_check(error="paid_usd exceeds allowed_usd")
    def paid_within_allowed(cls, frame: pd.DataFrame) -> Series[bool]:
        return frame["paid_usd"] <= frame["allowed_usd"] + 0.005


class Medications(pa.DataFrameModel):
    order_id: Series[int] = pa.Field(ge=1, coerce=True)
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    rxnorm_code: Series[str] = pa.Field(str_matches=r"^[0-9]{1,8}$")
    drug_name: Series[str]
    dose: Series[float] = pa.Field(gt=0, coerce=True)
    dose_unit: Series[str] = pa.Field(isin=v.DOSE_UNITS)
    route: Series[str] = pa.Field(isin=v.MEDICATION_ROUTES)
    frequency: Series[str] = pa.Field(isin=v.MEDICATION_FREQUENCIES)
    source: Series[str] = pa.Field(isin=v.MEDICATION_SOURCES)
    ordered_at: Series[pa.DateTime] = pa.Field(coerce=True)
    first_dose_at: Series[pa.DateTime] = pa.Field(coerce=True, nullable=True)
    stopped_at: Series[pa.DateTime] = pa.Field(coerce=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="order_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["order_id"])

    @pa.dataframe_check(error="first dose before the order, or stopped before it")
    def times_in_order(cls, frame: pd.DataFrame) -> Series[bool]:
        return (
            _in_order(frame["ordered_at"], frame["first_dose_at"])
            & _in_order(frame["first_dose_at"], frame["stopped_at"])
            & _in_order(frame["ordered_at"], frame["stopped_at"])
        )


class Vitals(pa.DataFrameModel):
    observation_id: Series[int] = pa.Field(ge=1, coerce=True)
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    observed_at: Series[pa.DateTime] = pa.Field(coerce=True)
    heart_rate: Series[float] = pa.Field(coerce=True)
    respiratory_rate: Series[float] = pa.Field(coerce=True)
    spo2: Series[float] = pa.Field(coerce=True)
    on_oxygen: Series[bool] = pa.Field(coerce=True)
    temperature_c: Series[float] = pa.Field(coerce=True)
    systolic_bp: Series[float] = pa.Field(coerce=True)
    consciousness: Series[str] = pa.Field(isin=v.CONSCIOUSNESS)

    class Config:
        strict = True

    @pa.dataframe_check(error="observation_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["observation_id"])


class Labs(pa.DataFrameModel):
    lab_id: Series[int] = pa.Field(ge=1, coerce=True)
    encounter_id: Series[int] = pa.Field(ge=1, coerce=True)
    drawn_at: Series[pa.DateTime] = pa.Field(coerce=True)
    test: Series[str] = pa.Field(isin=v.LAB_TESTS)
    loinc: Series[str] = pa.Field(str_matches=r"^\d{1,5}-\d$")
    value: Series[float] = pa.Field(coerce=True)
    unit: Series[str]

    class Config:
        strict = True

    @pa.dataframe_check(error="lab_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["lab_id"])


class EdVisits(pa.DataFrameModel):
    ed_visit_id: Series[int] = pa.Field(ge=1, coerce=True)
    patient_id: Series[int] = pa.Field(ge=1, coerce=True)
    facility_id: Series[int] = pa.Field(ge=1, coerce=True)
    arrival_at: Series[pa.DateTime] = pa.Field(coerce=True)
    triage_at: Series[pa.DateTime] = pa.Field(coerce=True)
    provider_at: Series[pa.DateTime] = pa.Field(coerce=True, nullable=True)
    admit_decision_at: Series[pa.DateTime] = pa.Field(coerce=True, nullable=True)
    departure_at: Series[pa.DateTime] = pa.Field(coerce=True)
    esi_level: Series[int] = pa.Field(ge=1, le=5, coerce=True)
    disposition: Series[str] = pa.Field(isin=v.ED_DISPOSITIONS)
    encounter_id: Series[pd.Int64Dtype] = pa.Field(ge=1, coerce=True, nullable=True)

    class Config:
        strict = True

    @pa.dataframe_check(error="ed_visit_id is repeated")
    def unique_key(cls, frame: pd.DataFrame) -> Series[bool]:
        return _unique(frame, ["ed_visit_id"])

    @pa.dataframe_check(error="ED times are out of order")
    def times_in_order(cls, frame: pd.DataFrame) -> Series[bool]:
        return (
            _in_order(frame["arrival_at"], frame["triage_at"])
            & _in_order(frame["triage_at"], frame["provider_at"])
            & _in_order(frame["arrival_at"], frame["departure_at"])
            & _in_order(frame["provider_at"], frame["admit_decision_at"])
            & _in_order(frame["admit_decision_at"], frame["departure_at"])
        )

    @pa.dataframe_check(error="an admission without a decision to admit, or a decision without one")
    def decided_when_admitted(cls, frame: pd.DataFrame) -> Series[bool]:
        return frame["admit_decision_at"].notna() == (frame["disposition"] == "admitted")


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "facilities": Facilities,
    "nurse_staffing": NurseStaffing,
    "ed_providers": EdProviders,
    "patients": Patients,
    "encounters": Encounters,
    "diagnoses": Diagnoses,
    "procedures": Procedures,
    "claims": Claims,
    "medications": Medications,
    "vitals": Vitals,
    "labs": Labs,
    "ed_visits": EdVisits,
}


def schemas(etl: Etl, formulary: Mapping[str, Drug]) -> dict[str, pa.DataFrameSchema]:
    """The models as schemas, with the configured physiological and plausibility limits and the
    hospital's formulary (the medications' codes, names, units and largest doses) added."""
    built = {}
    for table, model in MODELS.items():
        schema = model.to_schema()
        limited = {
            column: {
                "checks": [*schema.columns[column].checks, pa.Check.in_range(*etl.limits[column])]
            }
            for column in schema.columns
            if column in etl.limits
        }
        built[table] = schema.update_columns(
            {
                **limited,
                **{c: {"nullable": True} for c in NULLED_WHEN_INVALID.get(table, [])},
            }
        )
    labs = copy.deepcopy(built["labs"])
    labs.checks.append(_lab_limits(etl.limits))
    built["labs"] = labs
    built["medications"] = _within_formulary(built["medications"], formulary)
    return built


def _within_formulary(
    schema: pa.DataFrameSchema, formulary: Mapping[str, Drug]
) -> pa.DataFrameSchema:
    """Orders of drugs the formulary lists, named and dosed as it says: the code known, the name
    and unit its, the dose no larger than its largest."""
    by_code = {drug.rxcui: (name.replace("_", " "), drug) for name, drug in formulary.items()}

    def largest(frame: pd.DataFrame) -> pd.Series:
        limit = frame["rxnorm_code"].map({c: d.max_dose for c, (_, d) in by_code.items()})
        return (frame["dose"] <= limit) | limit.isna()

    def as_listed(frame: pd.DataFrame) -> pd.Series:
        code = frame["rxnorm_code"]
        name = code.map({c: n for c, (n, _) in by_code.items()})
        unit = code.map({c: d.unit for c, (_, d) in by_code.items()})
        return ((frame["drug_name"] == name) & (frame["dose_unit"] == unit)) | name.isna()

    checked = schema.update_columns(
        {
            "rxnorm_code": {
                "checks": [
                    *schema.columns["rxnorm_code"].checks,
                    pa.Check(lambda codes: codes.isin(list(by_code)), name=NOT_IN_FORMULARY),
                ]
            }
        }
    )
    checked.checks.extend(
        [
            pa.Check(largest, error="dose above the drug's largest in the formulary"),
            pa.Check(as_listed, error="drug name or dose unit is not the formulary's for its code"),
        ]
    )
    return checked


def _lab_limits(limits: dict[str, tuple[float, float]]) -> pa.Check:
    def within(frame: pd.DataFrame) -> pd.Series:
        low = frame["test"].map({t: limits[t][0] for t in v.LAB_TESTS if t in limits})
        high = frame["test"].map({t: limits[t][1] for t in v.LAB_TESTS if t in limits})
        return frame["value"].between(low, high) | low.isna()

    return pa.Check(within, error="lab value outside its test's limits")


# --------------------------------------------------------------------------------------------
# Running the checks


@dataclass
class Failures:
    """Row-level failures of one table: for each failing row position, the (column, check)s."""

    reasons: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, positions: np.ndarray, column: str, check: str) -> None:
        for position in np.asarray(positions).tolist():
            self.reasons.setdefault(position, []).append((column, check))

    @property
    def positions(self) -> np.ndarray:
        return np.array(sorted(self.reasons), dtype=np.int64)


NOT_IN_FORMULARY = "not in the formulary"
_CHECK_WORDS = [
    (r"^(?:coerce_dtype|dtype)\('(.+)'\)$", r"not a valid \1"),
    (r"^not_nullable$", "missing"),
    (r"^str_matches\(.*\)$", "malformed"),
    (r"^isin\(.*\)$", "not an allowed value"),
    (r"^in_range\((.+), (.+)\)$", r"outside \1 to \2"),
    (r"^greater_than_or_equal_to\((.+)\)$", r"below \1"),
    (r"^greater_than\((.+)\)$", r"not above \1"),
    (r"^less_than_or_equal_to\((.+)\)$", r"above \1"),
]


def describe_check(check: str) -> str:
    """A pandera check name in words ("in_range(20.0, 250.0)" -> "outside 20.0 to 250.0")."""
    for pattern, words in _CHECK_WORDS:
        if re.match(pattern, check):
            return re.sub(pattern, words, check)
    return check


def null_invalid(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, table: str
) -> tuple[pd.DataFrame, Failures]:
    """``frame`` with the bad values of its ``NULLED_WHEN_INVALID`` fields set to null, and which
    they were (``frame`` must have a default RangeIndex)."""
    columns = [c for c in NULLED_WHEN_INVALID.get(table, []) if c in frame]
    if not columns:
        return frame, Failures()
    fields = pa.DataFrameSchema({c: schema.columns[c] for c in columns})
    _, failures = validate_table(frame[columns], fields, table)
    if not failures.reasons:
        return frame, failures
    nulled = frame.copy()
    for column in columns:
        rows = [
            p for p, reasons in failures.reasons.items() if any(c == column for c, _ in reasons)
        ]
        if rows:
            nulled[column] = nulled[column].astype(object)
            nulled.loc[rows, column] = None
    return nulled, failures


class TableStructureError(ValueError):
    """A table that cannot be validated row by row (a missing column, an unreadable type)."""


def validate_table(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, table: str
) -> tuple[pd.DataFrame, Failures]:
    """Valid rows (coerced to the declared types) and the failures of the others.

    ``frame`` must have a default RangeIndex; failure positions refer to it. Pass 1 sets aside
    values that cannot be read as their declared type (other checks cannot run on them); pass 2
    collects every other failure; pass 3 returns the rest, now valid.
    """
    failures = Failures()
    remaining = frame
    for _ in range(3):
        try:
            return schema.validate(remaining, lazy=True), failures
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases
        row_level = cases["index"].notna()
        unreadable = row_level & cases["check"].astype(str).str.startswith(
            ("coerce_dtype", "dtype(")
        )
        if not row_level.any() or (not unreadable.any() and (~row_level).any()):
            column, check, case = cases[~row_level].iloc[0][["column", "check", "failure_case"]]
            problem = {
                "column_in_dataframe": f"the column {case!r} is missing",
                "column_in_schema": f"the column {case!r} is not expected",
            }.get(check, f"the column {column!r} fails {check}: {case}")
            raise TableStructureError(f"{table}: {problem}")
        chosen = cases[unreadable] if unreadable.any() else cases[row_level]
        whole_row = chosen["schema_context"] == "DataFrameSchema"
        chosen = chosen.assign(
            column=chosen["column"].where(~whole_row, "*"),
            check=chosen["check"].astype(str).map(describe_check),
        ).drop_duplicates(["index", "column", "check"])
        for (column, check), group in chosen.groupby(["column", "check"], sort=True):
            failures.add(group["index"].astype(np.int64).unique(), str(column), check)
        remaining = frame.drop(index=failures.positions)
    raise TableStructureError(f"{table}: validation did not settle after three passes")
