"""Typed schema of ``features.yaml``: ETL limits, de-identification, prediction times and splits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from configs.data_gen import Probability, Strict

Zip3 = Annotated[str, Field(pattern=r"^\d{3}$")]


class Etl(Strict):
    max_quarantine_share: Annotated[float, Field(ge=0.0, le=1.0)]
    key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    key_file: str
    age_cap_years: Annotated[int, Field(ge=80, le=120)]
    restricted_zip3: list[Zip3]
    limits: dict[str, tuple[float, float]]

    @model_validator(mode="after")
    def _limits_ordered(self) -> Etl:
        for name, (low, high) in self.limits.items():
            if low >= high:
                raise ValueError(f"limits.{name}: low ({low}) must be below high ({high})")
        return self


class Tasks(Strict):
    admission_hours: Annotated[float, Field(gt=0.0, le=48.0)]
    readmission_windows_days: Annotated[
        list[Annotated[int, Field(ge=1, le=365)]], Field(min_length=1)
    ]
    long_stay_days: Annotated[float, Field(gt=0.0, le=60.0)]
    deterioration_window_hours: Annotated[int, Field(ge=1, le=168)]
    trend_hours: Annotated[list[Annotated[int, Field(ge=1, le=72)]], Field(min_length=1)]
    ed_lookback_days: Annotated[int, Field(ge=1, le=3650)]
    admissions_lookback_days: Annotated[int, Field(ge=1, le=3650)]


class Splits(Strict):
    warm_up_days: Annotated[int, Field(ge=0, le=3650)]
    test_months: Annotated[int, Field(ge=1, le=60)]
    test_patient_share: Annotated[float, Field(gt=0.0, lt=1.0)]
    validation_patient_share: Probability


class FeaturesConfig(Strict):
    etl: Etl
    tasks: Tasks
    splits: Splits
