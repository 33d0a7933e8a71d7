"""Requests built from clean records, as an application would send them: for the tests' parity
checks, the serving benchmark and the documentation."""

from __future__ import annotations

import pandas as pd

from configs import vocabulary
from features import cases


def iso(value) -> str:
    return pd.Timestamp(value).isoformat()


def _plain(value):
    return value.item() if hasattr(value, "item") else value


STAY_FIELDS = [
    "age_years",
    "sex",
    "payer",
    "admission_type",
    "primary_dx_code",
    "prior_admissions_12m",
    "ed_visits_6m",
    "admission_source",
    "unit",
    "facility_id",
    "facility_type",
    "treatment_protocol",
]


def stay(row: pd.Series) -> dict:
    """The stay fields of a case row from ``features.build.admission_cases``."""
    case = {field: _plain(row[field]) for field in STAY_FIELDS}
    home = set(row["home_medication_codes"])
    case.update(
        case_id=row["encounter_key"],
        comorbidity_codes=list(row["comorbidity_codes"]),
        admitted_at=iso(row["admitted_at"]),
        medications=[
            {"rxnorm_code": code, "source": cases.HOME if code in home else "inpatient"}
            for code in row["medication_codes"]
        ],
    )
    return case


def ward_medications(orders: pd.DataFrame, at: pd.Timestamp) -> list[dict]:
    """A ward case's orders as known at ``at`` (clean medications of its stay): those placed by
    then, a stop still to come not known yet."""
    placed = orders[orders["ordered_at"] <= at]
    return [
        {
            "rxnorm_code": order.rxnorm_code,
            "source": order.source,
            "ordered_at": iso(order.ordered_at),
            **({"stopped_at": iso(order.stopped_at)} if order.stopped_at <= at else {}),
        }
        for order in placed.itertuples()
    ]


def discharge_request(row: pd.Series) -> dict:
    """A /readmission case from a row of ``features.build.discharge_cases``."""
    case = stay(row)
    case.update(
        discharged_at=iso(row["discharged_at"]),
        icu_days=float(row["icu_days"]),
        discharge_disposition=row["discharge_disposition"],
        procedure_count=int(row["procedure_count"]),
        complication=bool(row["complication"]),
        deteriorated=bool(row["deteriorated"]),
        discharge_labs=[
            {
                "drawn_at": iso(row["discharged_at"]),
                "test": test,
                "value": float(row[f"discharge_{test}"]),
            }
            for test in cases.DISCHARGE_LABS
            if pd.notna(row[f"discharge_{test}"])
        ],
    )
    return case


def admission_request(row: pd.Series) -> dict:
    """A /los or /cost case from a row of ``features.build.admission_cases``."""
    case = stay(row)
    if pd.notna(row["admit_heart_rate"]):
        observation = {sign: float(row[f"admit_{sign}"]) for sign in cases.VITAL_SIGNS}
        observation.update(
            observed_at=iso(row["admitted_at"]),
            on_oxygen=bool(row["admit_on_oxygen"]),
            consciousness=row["admit_consciousness"],
        )
        case["first_observation"] = observation
    case["admission_labs"] = [
        {"drawn_at": iso(row["admitted_at"]), "test": test, "value": float(row[f"admit_{test}"])}
        for test in vocabulary.LAB_TESTS
        if pd.notna(row[f"admit_{test}"])
    ]
    return case
