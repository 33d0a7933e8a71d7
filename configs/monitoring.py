"""Typed schema of ``monitoring.yaml``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from configs.data_gen import Strict


class KpiConfig(Strict):
    postgres_url: Annotated[str, Field(pattern=r"^postgres(ql)?://")] | None
    postgres_schema: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]


class MonitoringConfig(Strict):
    reports_dir: str
    kpis: KpiConfig
