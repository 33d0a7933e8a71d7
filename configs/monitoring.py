"""Typed schema of ``monitoring.yaml``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import Strict

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class KpiConfig(Strict):
    postgres_url: Annotated[str, Field(pattern=r"^postgres(ql)?://")] | None
    postgres_schema: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]


class DriftConfig(Strict):
    scenario: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    method: str | None
    threshold: Annotated[float, Field(gt=0)] | None
    binary_method: str
    binary_threshold: Annotated[float, Field(gt=0)]
    warn_drift_share: Share
    alert_drift_share: Share
    warn_metric_loss: Share
    alert_metric_loss: Share
    min_labelled_rows: Annotated[int, Field(ge=10)]
    max_reference_rows: Annotated[int, Field(ge=1000)]
    max_current_rows: Annotated[int, Field(ge=1000)]
    fail_on: Literal["never", "warn", "alert"]

    @model_validator(mode="after")
    def _ordered(self) -> DriftConfig:
        if self.warn_drift_share > self.alert_drift_share:
            raise ValueError("warn_drift_share must not exceed alert_drift_share")
        if self.warn_metric_loss > self.alert_metric_loss:
            raise ValueError("warn_metric_loss must not exceed alert_metric_loss")
        return self


class MonitoringConfig(Strict):
    reports_dir: str
    workspace: str
    kpis: KpiConfig
    drift: DriftConfig
