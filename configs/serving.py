"""Typed schema of ``serving.yaml``."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from configs.data_gen import Strict


class ServingConfig(Strict):
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    audit_log: str
    model_alias: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]
    processes: Annotated[int, Field(ge=1, le=32)]
    risk_bands: dict[str, tuple[float, float]]

    @model_validator(mode="after")
    def _bands_ordered(self) -> ServingConfig:
        for task, (low, high) in self.risk_bands.items():
            if low >= high:
                raise ValueError(f"risk_bands.{task}: the low bound must be below the high one")
        return self


def risk_band(values: np.ndarray, bounds: tuple[float, float]) -> list[str]:
    """low, medium or high per value, from the upper bounds of the low and medium bands."""
    return np.select([values < bounds[0], values < bounds[1]], ["low", "medium"], "high").tolist()
