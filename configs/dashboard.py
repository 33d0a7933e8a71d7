"""Typed schema of ``dashboard.yaml``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from configs.data_gen import Strict

Coverage = Annotated[float, Field(gt=0.5, lt=1.0)]


class DashboardConfig(Strict):
    port: Annotated[int, Field(ge=1024, le=65535)]
    risk_list_rows: Annotated[int, Field(ge=1, le=1000)]
    top_reasons: Annotated[int, Field(ge=1, le=10)]
    forecast_months: Annotated[int, Field(ge=1, le=12)]
    forecast_interval: Coverage
    funnel_limits: Annotated[list[Coverage], Field(min_length=1, max_length=3)]
