"""Request and response models of the risk service, in clinical terms.

A case is what an application knows about a patient at the prediction time (ages, codes, vitals,
labs, prior utilisation), never a pre-computed feature vector: the service computes the features
with the batch pipeline's own functions. Ranges follow the ETL's physiological limits
(``configs/features.yaml``), so the server refuses what the ETL would quarantine.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from configs import load_settings
from features import tasks

LIMITS = load_settings().features.etl.limits
MAX_CASES = 1000
ICD10CM = Annotated[
    str, Field(pattern=r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$", examples=["I50.23"])
]


def _hospital_clock(value: dt.datetime) -> dt.datetime:
    """A time with an offset is converted to UTC; one without is taken as it is (the clean tables'
    times carry no offset either). Either way the server compares like with like."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


Timestamp = Annotated[dt.datetime, AfterValidator(_hospital_clock)]


def _within(name: str, **extra) -> object:
    low, high = LIMITS[name]
    return Field(ge=low, le=high, **extra)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Observation(Strict):
    """One set of vital signs."""

    observed_at: Timestamp
    heart_rate: Annotated[float, _within("heart_rate", description="beats/min")]
    respiratory_rate: Annotated[float, _within("respiratory_rate", description="breaths/min")]
    spo2: Annotated[float, _within("spo2", description="%")]
    temperature_c: Annotated[float, _within("temperature_c", description="degrees C")]
    systolic_bp: Annotated[float, _within("systolic_bp", description="mmHg")]
    on_oxygen: bool
    consciousness: Literal["A", "C", "V", "P", "U"] = Field(description="ACVPU")


class Lab(Strict):
    drawn_at: Timestamp
    test: Literal["haemoglobin", "sodium", "creatinine", "wbc", "lactate"]
    value: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _physiological(self) -> Lab:
        low, high = LIMITS[self.test]
        if not low <= self.value <= high:
            raise ValueError(f"{self.test} value {self.value} is outside {low} to {high}")
        return self


class Patient(Strict):
    """Who the patient is and what is known about them at admission."""

    case_id: Annotated[
        str, Field(min_length=1, max_length=64, description="the caller's own id, echoed back")
    ]
    age_years: Annotated[int, Field(ge=18, le=120)]
    sex: Literal["F", "M"]
    payer: Literal[tasks.PAYERS]
    admission_type: Literal[tasks.ADMISSION_TYPES]
    primary_dx_code: ICD10CM
    comorbidity_codes: Annotated[list[ICD10CM], Field(max_length=50)] = Field(default_factory=list)
    prior_admissions_12m: Annotated[int, Field(ge=0, le=365)] = 0
    ed_visits_6m: Annotated[int, Field(ge=0, le=365)] = 0


class Stay(Patient):
    admission_source: Literal[tasks.ADMISSION_SOURCES]
    unit: Literal[tasks.UNITS]
    facility_id: Annotated[int, Field(ge=1)]
    facility_type: Literal[tasks.FACILITY_TYPES]
    treatment_protocol: Literal[tasks.PROTOCOLS] = "standard"
    admitted_at: Timestamp


class AdmissionCase(Stay):
    """Length of stay and cost, at admission: the first observation and labs, if any."""

    first_observation: Observation | None = None
    admission_labs: Annotated[list[Lab], Field(max_length=50)] = Field(default_factory=list)


class DischargeCase(Stay):
    """30-day readmission, at discharge. ``comorbidity_codes``: every secondary code of the stay."""

    discharged_at: Timestamp
    icu_days: Annotated[float, Field(ge=0, le=365)] = 0.0
    discharge_disposition: Literal[tasks.DISPOSITIONS]
    procedure_count: Annotated[int, Field(ge=0, le=100)] = 0
    complication: bool = False
    deteriorated: bool = Field(False, description="ICU transfer or rapid response during the stay")
    discharge_labs: Annotated[list[Lab], Field(max_length=50)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _discharge_after_admission(self) -> DischargeCase:
        if self.discharged_at <= self.admitted_at:
            raise ValueError("discharged_at must be after admitted_at")
        return self


class WardCase(Patient):
    """Deterioration within 24 h, at the latest of ``observations`` (earlier ones give trends)."""

    admitted_at: Timestamp
    observations: Annotated[list[Observation], Field(min_length=1, max_length=500)]
    labs: Annotated[list[Lab], Field(max_length=500)] = Field(default_factory=list)

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
