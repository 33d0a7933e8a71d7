"""Typed schema of ``engine.yaml``: how the batch stages split the world and where they run."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from configs.data_gen import Strict

# The scheduler's address may also come from the environment, which wins over the file.
SCHEDULER_ENV = "HOSPITAL_DASK_SCHEDULER"
SCHEDULER_ADDRESS = r"^(tcp|tls|ucx)://\S+:\d+$"


class EngineConfig(Strict):
    partition_patients: Annotated[int, Field(ge=100)]
    scheduler_address: Annotated[str, Field(pattern=SCHEDULER_ADDRESS)] | None
    local_workers: Annotated[int, Field(ge=0, le=256)]
    worker_memory_gb: Annotated[float, Field(ge=0.0)]
    retries: Annotated[int, Field(ge=0, le=10)]
    connect_timeout_seconds: Annotated[float, Field(gt=0.0, le=600.0)]
    duckdb_memory_gb: Annotated[float, Field(gt=0.0)]
