"""Typed schema of ``serving.yaml``."""

from __future__ import annotations

from typing import Annotated

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
