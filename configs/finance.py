"""Typed schema of ``finance.yaml``: the readmission penalty (HRRP) and the revenue forecast."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import Strict
from configs.vocabulary import PAYERS

CodePrefix = Annotated[str, Field(pattern=r"^[0-9A-Z][0-9A-Z.]{1,7}$")]


class Cohort(Strict):
    """One HRRP condition's index stays: by principal diagnosis, or by procedure performed."""

    diagnosis_prefixes: list[CodePrefix] = Field(default_factory=list)
    procedure_prefixes: list[CodePrefix] = Field(default_factory=list)
    elective_only: bool = False

    @model_validator(mode="after")
    def _one_rule(self) -> Cohort:
        if bool(self.diagnosis_prefixes) == bool(self.procedure_prefixes):
            raise ValueError(
                "a cohort takes diagnosis_prefixes or procedure_prefixes (one of them)"
            )
        return self


class ReadmissionPenalty(Strict):
    conditions: Annotated[dict[str, Cohort], Field(min_length=1)]
    payer: Literal[PAYERS]
    min_age_years: Annotated[int, Field(ge=18, le=90)]
    window_days: Annotated[int, Field(ge=1, le=90)]
    min_index_stays: Annotated[int, Field(ge=1)]
    penalty_cap: Annotated[float, Field(gt=0.0, le=1.0)]
    coverage: Annotated[float, Field(gt=0.5, lt=1.0)]
    draws: Annotated[int, Field(ge=100, le=100_000)]
    seed: Annotated[int, Field(ge=0)]


class RevenueForecast(Strict):
    months_ahead: Annotated[int, Field(ge=1, le=12)]
    coverage: Annotated[float, Field(gt=0.5, lt=1.0)]
    min_history_months: Annotated[int, Field(ge=6, le=60)]
    warmup_months: Annotated[int, Field(ge=0, le=12)]


class FinanceConfig(Strict):
    readmission_penalty: ReadmissionPenalty
    forecast: RevenueForecast
    tables_dir: str
