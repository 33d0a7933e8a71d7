"""Shared fixtures: the real configuration shrunk to the small profile, and its generated world."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from configs import Settings, load_settings
from data_gen import generate, schema


@pytest.fixture(scope="session")
def small_settings() -> Settings:
    return load_settings("small")


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory: pytest.TempPathFactory, small_settings: Settings) -> Path:
    """The small profile's world, generated once per test session."""
    data_dir = tmp_path_factory.mktemp("small-world")
    generate.generate(small_settings, data_dir)
    return data_dir


@pytest.fixture(scope="session")
def small_world(small_world_dir: Path) -> dict[str, pd.DataFrame]:
    """Every raw and oracle table of the small world, by name (oracle tables as oracle_<name>)."""
    tables = {t: pd.read_parquet(small_world_dir / "raw" / f"{t}.parquet") for t in schema.RAW}
    for stem in schema.ORACLE:
        tables[f"oracle_{stem}"] = pd.read_parquet(small_world_dir / "oracle" / f"{stem}.parquet")
    return tables
