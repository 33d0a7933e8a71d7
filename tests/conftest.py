"""Shared fixtures: the real configuration shrunk to the small profile, and its generated world."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from configs import Settings, load_settings
from data_gen import generate, schema
from features.build import TASKS, run_build
from features.etl import EtlResult, run_etl
from training import pipeline


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


@pytest.fixture(scope="session")
def key_root(tmp_path_factory: pytest.TempPathFactory, small_settings: Settings) -> Path:
    """A fixed pseudonymisation key outside the repository, so that the keyed patient hash, and
    with it every split and metric, is the same in every run of the tests."""
    root = tmp_path_factory.mktemp("secrets")
    path = root / small_settings.features.etl.key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a-fixed-test-key-not-used-anywhere-else-0123456789\n")
    return root


@pytest.fixture(scope="session")
def small_etl(small_world_dir: Path, small_settings: Settings, key_root: Path) -> EtlResult:
    """The ETL run on the small world: data/clean and data/quarantine beside its data/raw."""
    return run_etl(small_settings, small_world_dir, key_root)


@pytest.fixture(scope="session")
def small_clean(small_world_dir: Path, small_etl: EtlResult) -> dict[str, pd.DataFrame]:
    return {
        p.stem: pd.read_parquet(p) for p in sorted((small_world_dir / "clean").glob("*.parquet"))
    }


@pytest.fixture(scope="session")
def small_features(
    small_world_dir: Path, small_settings: Settings, small_etl: EtlResult, key_root: Path
) -> dict[str, pd.DataFrame]:
    """The four feature tables of the small world, as written to data/features."""
    run_build(small_settings, small_world_dir, key_root)
    return {t: pd.read_parquet(small_world_dir / "features" / f"{t}.parquet") for t in TASKS}


@pytest.fixture(scope="session")
def trained(small_features, small_world_dir, tmp_path_factory):
    """All four tasks trained on the small world into a private MLflow store and Optuna storage."""
    store = tmp_path_factory.mktemp("mlflow")
    settings = load_settings(
        "small",
        [
            f"training.tracking_uri=sqlite:///{store / 'mlflow.db'}",
            f"training.artifact_location={store / 'artifacts'}",
            f"training.optuna_storage=sqlite:///{store / 'optuna.db'}",
        ],
    )
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    results = {
        task: pipeline.train_task(settings, task, small_world_dir, progress=lambda _: None)
        for task in settings.training.tasks
    }
    return settings, results
