"""Typed schema of ``serving.yaml``."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from configs.data_gen import Strict


class Traffic(Strict):
    timeout_seconds: Annotated[float, Field(gt=0, le=600)]
    max_concurrency: Annotated[int, Field(ge=1, le=10_000)]
    max_cases: Annotated[int, Field(ge=1, le=100_000)]
    max_body_bytes: Annotated[int, Field(ge=1_000, le=1_000_000_000)]


class TimeChecks(Strict):
    max_span_days: Annotated[float, Field(gt=0, le=3650)]
    future_tolerance_minutes: Annotated[float, Field(ge=0, le=1440)]
    oldest_years: Annotated[float, Field(gt=0, le=200)]


class ServingConfig(Strict):
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    open_paths: list[Annotated[str, Field(pattern=r"^/")]]
    open_prefixes: list[Annotated[str, Field(pattern=r"^/.+/$")]]
    audit_log: str
    processes: Annotated[int, Field(ge=1, le=32)]
    traffic: Traffic
    time_checks: TimeChecks

    def is_open(self, path: str) -> bool:
        """Whether a path is served without the API key (everything else needs it)."""
        return path in self.open_paths or path.startswith(tuple(self.open_prefixes))


def risk_band(values: np.ndarray, bounds: tuple[float, float]) -> list[str]:
    """low, medium or high per value, from the upper bounds of the low and medium bands."""
    return np.select([values < bounds[0], values < bounds[1]], ["low", "medium"], "high").tolist()
