"""Typed schema of ``operations.yaml``: the census forecast and the nurse staffing plan."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import NURSE_RATES, Strict, require_every_unit_and_rate
from configs.vocabulary import UNITS


class Forecast(Strict):
    horizon_days: Annotated[int, Field(ge=1, le=60)]
    warmup_days: Annotated[int, Field(ge=0, le=180)]
    test_weeks: Annotated[int, Field(ge=1, le=104)]


class Staffing(Strict):
    safe_patients_per_nurse: dict[Literal[UNITS], Annotated[float, Field(ge=1.0, le=12.0)]]
    census_quantile: Annotated[float, Field(gt=0.0, lt=1.0)]
    hourly_usd: dict[Literal[NURSE_RATES], Annotated[float, Field(gt=0.0)]]
    history_weeks: Annotated[int, Field(ge=1, le=52)]
    extra_staff_share: Annotated[float, Field(ge=0.0, le=1.0)]
    overtime_share: Annotated[float, Field(ge=0.0, le=1.0)]
    no_floats_into: list[Literal[UNITS]]
    replicates: Annotated[int, Field(ge=10, le=10_000)]
    seed: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _complete(self) -> Staffing:
        require_every_unit_and_rate(self.safe_patients_per_nurse, self.hourly_usd)
        return self


class OperationsConfig(Strict):
    forecast: Forecast
    staffing: Staffing
    tables_dir: str

    def with_census_quantile(self, quantile: float) -> OperationsConfig:
        """The same settings with plans made for another quantile of the forecast (validated)."""
        changed = self.staffing.model_dump() | {"census_quantile": quantile}
        return self.model_copy(update={"staffing": Staffing.model_validate(changed)})
