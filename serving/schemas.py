"""Request and response models of the risk service, in clinical terms.

A case is what an application knows about a patient at the prediction time (ages, codes, vitals,
labs, prior utilisation), never a pre-computed feature vector: the service computes the features
with the batch pipeline's own functions. Ranges follow the ETL's physiological limits
(``configs/features.yaml``), so the server refuses what the ETL would quarantine, and times must
belong to a real case (``serving.time_checks``). ``CASES`` maps each case type that tasks declare
(configs/tasks/<task>.yaml) to the request model of its cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WrapValidator, model_validator

from configs import load_settings, vocabulary

SETTINGS = load_settings()
LIMITS = SETTINGS.features.etl.limits
TIME_CHECKS = SETTINGS.serving.time_checks
FORMULARY = {
    drug.rxcui: (name, drug) for name, drug in SETTINGS.data_gen.medications.formulary.items()
}
MAX_LIST = SETTINGS.medications.max_list_size
# A time without an offset may be on any zone's clock: the furthest ahead is UTC+14.
FURTHEST_ZONE = dt.timedelta(hours=14)
ICD10CM = Annotated[
    str, Field(pattern=r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$", examples=["I50.23"])
]


def _hospital_clock(value: object, parse) -> dt.datetime:
    """A time with an offset is converted to UTC; one without is taken as it is (the clean tables'
    times carry no offset either). Either way the server compares like with like. A time later
    than now (beyond the tolerance) or from before ``oldest_years`` cannot belong to a case."""
    parsed: dt.datetime = parse(value)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    clock = parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    tolerance = dt.timedelta(minutes=TIME_CHECKS.future_tolerance_minutes)
    if clock > now + tolerance + (dt.timedelta(0) if parsed.tzinfo else FURTHEST_ZONE):
        raise ValueError(f"{value} is in the future")
    if clock < now - dt.timedelta(days=365.25 * TIME_CHECKS.oldest_years):
        raise ValueError(f"{value} is more than {TIME_CHECKS.oldest_years:g} years ago")
    return clock


Timestamp = Annotated[dt.datetime, WrapValidator(_hospital_clock)]


def _within(name: str, **extra) -> object:
    low, high = LIMITS[name]
    return Field(ge=low, le=high, **extra)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Timed(Strict):
    """A case whose times must lie within ``max_span_days`` of its admission."""

    admitted_at: Timestamp

    def later_times(self) -> Iterator[tuple[str, dt.datetime]]:
        """Every other time of the case, by the name of its field."""
        return iter(())

    @model_validator(mode="after")
    def _times_near_the_admission(self) -> Timed:
        span = dt.timedelta(days=TIME_CHECKS.max_span_days)
        for field, at in self.later_times():
            if abs(at - self.admitted_at) > span:
                raise ValueError(
                    f"{field} ({at:%Y-%m-%d %H:%M}) is more than {TIME_CHECKS.max_span_days:g} "
                    f"days from admitted_at ({self.admitted_at:%Y-%m-%d %H:%M})"
                )
        return self


class Observation(Strict):
    """One set of vital signs."""

    observed_at: Timestamp
    heart_rate: Annotated[float, _within("heart_rate", description="beats/min")]
    respiratory_rate: Annotated[float, _within("respiratory_rate", description="breaths/min")]
    spo2: Annotated[float, _within("spo2", description="%")]
    temperature_c: Annotated[float, _within("temperature_c", description="degrees C")]
    systolic_bp: Annotated[float, _within("systolic_bp", description="mmHg")]
    on_oxygen: bool
    consciousness: Literal[vocabulary.CONSCIOUSNESS] = Field(description="ACVPU")


class Lab(Strict):
    drawn_at: Timestamp
    test: Literal[vocabulary.LAB_TESTS]
    value: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _physiological(self) -> Lab:
        low, high = LIMITS[self.test]
        if not low <= self.value <= high:
            raise ValueError(f"{self.test} value {self.value} is outside {low} to {high}")
        return self


def _in_formulary(code: str) -> str:
    if code not in FORMULARY:
        raise ValueError(f"rxnorm_code {code!r} is not in the formulary")
    return code


FormularyCode = Annotated[
    str, Field(pattern=r"^[0-9]{1,8}$", examples=["11289"]), AfterValidator(_in_formulary)
]


class CaseMedication(Strict):
    """A drug on the case's list: ordered by the prediction time (a home medicine continued in
    hospital, or an inpatient order)."""

    rxnorm_code: FormularyCode
    source: Literal[vocabulary.MEDICATION_SOURCES] = "inpatient"


class WardMedication(CaseMedication):
    """An order of a ward stay: active from ``ordered_at`` until ``stopped_at`` (none: not yet
    stopped)."""

    ordered_at: Timestamp
    stopped_at: Timestamp | None = None

    @model_validator(mode="after")
    def _stopped_after_ordered(self) -> WardMedication:
        if self.stopped_at is not None and self.stopped_at < self.ordered_at:
            raise ValueError("stopped_at must not be before ordered_at")
        return self


class Patient(Timed):
    """Who the patient is and what is known about them at admission."""

    case_id: Annotated[
        str, Field(min_length=1, max_length=64, description="the caller's own id, echoed back")
    ]
    age_years: Annotated[int, Field(ge=18, le=120)]
    sex: Literal[vocabulary.SEXES]
    payer: Literal[vocabulary.PAYERS]
    admission_type: Literal[vocabulary.ADMISSION_TYPES]
    primary_dx_code: ICD10CM
    comorbidity_codes: Annotated[list[ICD10CM], Field(max_length=50)] = Field(default_factory=list)
    prior_admissions_12m: Annotated[int, Field(ge=0, le=365)] = 0
    ed_visits_6m: Annotated[int, Field(ge=0, le=365)] = 0


class Stay(Patient):
    admission_source: Literal[vocabulary.ADMISSION_SOURCES]
    unit: Literal[vocabulary.UNITS]
    facility_id: Annotated[int, Field(ge=1)]
    facility_type: Literal[vocabulary.FACILITY_TYPES]
    treatment_protocol: Literal[vocabulary.PROTOCOLS] = "standard"
    medications: Annotated[list[CaseMedication], Field(max_length=MAX_LIST)] = Field(
        default_factory=list
    )


def _lab_times(field: str, labs: list[Lab]) -> Iterator[tuple[str, dt.datetime]]:
    return ((f"{field}[{i}].drawn_at", lab.drawn_at) for i, lab in enumerate(labs))


class AdmissionCase(Stay):
    """A stay at admission (length of stay, cost, mortality): the first observation and labs, if
    any."""

    first_observation: Observation | None = None
    admission_labs: Annotated[list[Lab], Field(max_length=50)] = Field(default_factory=list)

    def later_times(self) -> Iterator[tuple[str, dt.datetime]]:
        if self.first_observation is not None:
            yield "first_observation.observed_at", self.first_observation.observed_at
        yield from _lab_times("admission_labs", self.admission_labs)


class DischargeCase(Stay):
    """30-day readmission, at discharge. ``comorbidity_codes``: every secondary code of the stay."""

    discharged_at: Timestamp
    icu_days: Annotated[float, Field(ge=0, le=365)] = 0.0
    discharge_disposition: Literal[vocabulary.DISPOSITIONS]
    procedure_count: Annotated[int, Field(ge=0, le=100)] = 0
    complication: bool = False
    deteriorated: bool = Field(False, description="ICU transfer or rapid response during the stay")
    discharge_labs: Annotated[list[Lab], Field(max_length=50)] = Field(default_factory=list)

    def later_times(self) -> Iterator[tuple[str, dt.datetime]]:
        yield "discharged_at", self.discharged_at
        yield from _lab_times("discharge_labs", self.discharge_labs)

    @model_validator(mode="after")
    def _discharge_after_admission(self) -> DischargeCase:
        if self.discharged_at <= self.admitted_at:
            raise ValueError("discharged_at must be after admitted_at")
        return self


class WardCase(Patient):
    """A ward stay at the latest of ``observations`` (earlier ones give trends)."""

    observations: Annotated[list[Observation], Field(min_length=1, max_length=500)]
    labs: Annotated[list[Lab], Field(max_length=500)] = Field(default_factory=list)
    medications: Annotated[list[WardMedication], Field(max_length=500)] = Field(
        default_factory=list
    )

    def later_times(self) -> Iterator[tuple[str, dt.datetime]]:
        for i, observation in enumerate(self.observations):
            yield f"observations[{i}].observed_at", observation.observed_at
        yield from _lab_times("labs", self.labs)
        for i, order in enumerate(self.medications):
            yield f"medications[{i}].ordered_at", order.ordered_at
            if order.stopped_at is not None:
                yield f"medications[{i}].stopped_at", order.stopped_at

    @model_validator(mode="after")
    def _observations_in_the_stay(self) -> WardCase:
        if any(o.observed_at < self.admitted_at for o in self.observations):
            raise ValueError("observations must not be before admitted_at")
        return self


class Contribution(BaseModel):
    feature: str
    value: float | None
    contribution: float = Field(description="SHAP value, in log-odds for risks")


class Prediction(BaseModel):
    case_id: str
    prediction: float = Field(description="calibrated probability, days or USD")
    risk_band: str
    model: str
    model_version: str
    clinical_score: dict[str, float] = Field(default_factory=dict)
    explanation: list[Contribution] | None = None


class Predictions(BaseModel):
    """The answer to one request: its id (as in the audit trail) and one prediction per case, in
    the order of the cases."""

    request_id: str
    predictions: list[Prediction]


# The request model of each case type (configs/tasks/<task>.yaml: ``case``).
CASES: dict[str, type[Timed]] = {
    "admission": AdmissionCase,
    "discharge": DischargeCase,
    "ward": WardCase,
}


# --------------------------------------------------------------------------------------------
# Medication checks


class MedicationOrder(Strict):
    """A drug by its RxNorm ingredient code, and a single dose in the formulary's unit for it."""

    rxnorm_code: FormularyCode
    dose: Annotated[float, Field(gt=0, examples=[5.0])]

    @model_validator(mode="after")
    def _credible(self) -> MedicationOrder:
        name, drug = FORMULARY[self.rxnorm_code]
        if self.dose > drug.max_dose:
            raise ValueError(
                f"a dose of {self.dose:g} {drug.unit} of {name.replace('_', ' ')} exceeds its"
                f" largest single dose, {drug.max_dose:g} {drug.unit}"
            )
        return self


def _no_repeats(orders: list[MedicationOrder]) -> list[MedicationOrder]:
    codes = [order.rxnorm_code for order in orders]
    if repeated := sorted({code for code in codes if codes.count(code) > 1}):
        raise ValueError(f"rxnorm_code {', '.join(repeated)} listed more than once")
    return orders


ActiveList = Annotated[
    list[MedicationOrder], Field(max_length=MAX_LIST - 1), AfterValidator(_no_repeats)
]


class MedicationAlert(BaseModel):
    rxnorm_code: str  # the drug being ordered
    drug: str
    active_rxnorm_code: str  # the active drug it interacts with
    active_drug: str
    severity: Literal[vocabulary.INTERACTION_SEVERITIES]
    tier: Literal[vocabulary.ALERT_TIERS]
    effect: Literal[vocabulary.ADVERSE_DRUG_EVENTS]
    mechanism: str
    action: str
    source: str


class MedicationAlerts(BaseModel):
    request_id: str
    interruptive: bool  # whether the order must stop until a prescriber answers
    alerts: list[MedicationAlert]  # severest first
