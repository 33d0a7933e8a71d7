"""Shared fixtures: the real configuration shrunk to the small profile, and its generated world."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from configs import Settings, load_settings
from data_gen import generate, period, schema
from features.build import run_build
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


MEDIUM = ("n_patients=25000", "block_size=6250")
TRAINS_FIRST = "test_dashboard.py"  # its pages need the trained models and much more after them


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The file that trains the small world's models first, the other files that need them last
    (whole files: a worker takes a file at a time, in this order: pyproject.toml turns off
    xdist's reordering by size): with two workers, one trains while the other runs what needs no
    model, instead of waiting for the models (``trained``) at the start."""
    needing = {item.path for item in items if "trained" in getattr(item, "fixturenames", ())}

    def rank(item: pytest.Item) -> int:
        if item.path.name == TRAINS_FIRST:
            return 0
        return 2 if item.path in needing else 1

    items.sort(key=rank)  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def medium_settings() -> Settings:
    """The small profile with a world of 25,000 patients."""
    return load_settings("small", list(MEDIUM))


@pytest.fixture(scope="session")
def medium_world_dir(tmp_path_factory: pytest.TempPathFactory, medium_settings: Settings) -> Path:
    """The medium world, for figures that need more stays than the small world has: its
    calibration, and analyses judged against its oracle."""
    data_dir = tmp_path_factory.mktemp("medium-world")
    generate.generate(medium_settings, data_dir)
    return data_dir


@pytest.fixture(scope="session")
def medium_etl(medium_world_dir: Path, medium_settings: Settings, key_root: Path) -> EtlResult:
    """The ETL run on the medium world: its data/clean beside its data/raw."""
    return run_etl(medium_settings, medium_world_dir, key_root)


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
    """Every task's feature table of the small world, as written to data/features, by task."""
    run_build(small_settings, small_world_dir, key_root)
    folder = small_world_dir / "features"
    return {
        task: pd.read_parquet(folder / f"{small_settings.tasks[task].table}.parquet")
        for task in small_settings.task_names
    }


@pytest.fixture(scope="session")
def small_prospective(
    small_world_dir: Path, small_settings: Settings, small_etl: EtlResult, key_root: Path
) -> Path:
    """The small world's prospective period (``decisions.period_scenario``), cleaned and featured in
    data/periods/ beside it, as ``make decisions`` makes it: its folder."""
    scenario = small_settings.decisions.period_scenario
    period.generate_period(small_settings, scenario, small_world_dir)
    folder = period.period_dir(small_world_dir, scenario)
    run_etl(small_settings, folder, key_root)
    run_build(small_settings, folder, key_root)
    return folder


@pytest.fixture(scope="session")
def trained(small_features, small_world_dir, tmp_path_factory):
    """Every task trained on the small world into an MLflow store and Optuna storage.

    Trained once per test run: with several xdist workers the first trains under a lock and the
    others wait for it. Each process then works on its own copy of the databases (tests move
    aliases and register versions), the artifacts being shared and only read.
    """
    run_root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_root = run_root.parent  # common to the workers of this run only
    store = run_root / "trained-small"
    store.mkdir(exist_ok=True)
    with (store / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        finished = store / "results.pickle"
        if not finished.exists():
            settings = _store_settings(store, store)
            os.environ.pop("MLFLOW_TRACKING_URI", None)
            results = {
                task: pipeline.train_task(settings, task, small_world_dir, progress=lambda _: None)
                for task in settings.task_names
            }
            finished.write_bytes(pickle.dumps(results))
        results = pickle.loads(finished.read_bytes())
    own = tmp_path_factory.mktemp("mlflow")
    for database in ("mlflow.db", "optuna.db"):
        shutil.copy(store / database, own / database)
    settings = _store_settings(own, store)
    mlflow.set_tracking_uri(settings.training.tracking_uri)  # this process's copy, from now on
    return settings, results


MONITOR_RUN = "small-test"  # the small world's make monitor run, in small_outputs' reports


@pytest.fixture(scope="session")
def small_outputs(
    trained, small_world_dir, key_root, small_prospective, tmp_path_factory
) -> tuple[Path, dict[str, str]]:
    """What make monitor, make operations, make pharmacy and make decisions leave for the small
    world, made once per test run (the first worker to ask makes them under a lock, in a folder
    common to the workers): the reports folder, and the environment of the commands that read
    the models (the tracking store of this process, and the pseudonymisation key).

    The decisions steps log their validation and reports as artifacts of the champions' runs,
    which the workers share (their MLflow databases are copies)."""
    settings, _ = trained
    run_root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_root = run_root.parent
    reports = run_root / "outputs-small"
    key = (key_root / settings.features.etl.key_file).read_text().strip()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.training.tracking_uri,
        "HOSPITAL_PSEUDONYM_KEY": key,
    }
    reports.mkdir(exist_ok=True)
    with (reports / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (reports / ".done").exists():
            _make_outputs(small_world_dir, reports, env)
            (reports / ".done").touch()
    return reports, env


def _make_outputs(data_dir: Path, reports: Path, env: dict[str, str]) -> None:
    data = ["--profile", "small", "--data-dir", str(data_dir)]
    operations = [f"operations.tables_dir={reports / 'operations'}",
                  "operations.forecast.test_weeks=3"]  # fmt: skip
    decided = f"decisions.tables_dir={reports / 'decisions'}"
    commands = [
        ["monitoring", "run", *data, "--run", MONITOR_RUN, f"reports_dir={reports}",
         f"workspace={reports / 'workspace'}"],
        ["operations", "forecast", *data, *operations],
        ["operations", "evaluate", *data, *operations],
        ["pharmacy", "efficacy", *data, f"medications.tables_dir={reports / 'pharmacy'}"],
        ["decisions", "validate", *data, decided],
        ["decisions", "report", "--profile", "small", decided],
        ["decisions", "programme", *data, decided],
        ["decisions", "rapid-response", *data, decided],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", *command],
            capture_output=True, text=True, env=env, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr[-3000:])


def _store_settings(databases: Path, artifacts: Path) -> Settings:
    return load_settings(
        "small",
        [
            f"training.tracking_uri=sqlite:///{databases / 'mlflow.db'}",
            f"training.artifact_location={artifacts / 'artifacts'}",
            f"training.optuna_storage=sqlite:///{databases / 'optuna.db'}",
        ],
    )
