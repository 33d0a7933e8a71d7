"""The partitioned ETL and feature build: the same tables on any number of partitions and workers,
on a local or a running Dask cluster, resumable, with faults named."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from configs import Settings, load_settings
from dashboard import analysis, data
from data_gen import corrupt
from features import engine, partitions
from features.build import run_build
from features.etl import run_etl
from features.interactions import KnowledgeBase
from tests.servers import free_port

FOUR_PARTITIONS = ["engine.partition_patients=1000", "engine.local_workers=2"]
SORT_KEYS = ["encounter_key", "prediction_time"]


def _world_copy(small_world_dir: Path, target: Path) -> Path:
    for folder in ("raw", "oracle"):
        shutil.copytree(small_world_dir / folder, target / folder)
    return target


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table of a stage's folder, rows in a canonical order."""
    tables = {}
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        keys = SORT_KEYS if set(SORT_KEYS) <= set(frame) else list(frame)
        tables[path.stem] = frame.sort_values(keys, kind="stable", ignore_index=True)
    return tables


def _assert_same_tables(expected: Path, actual: Path) -> None:
    want, got = _tables(expected), _tables(actual)
    assert sorted(want) == sorted(got)
    for name, frame in want.items():
        assert len(got[name]) == len(frame) > 0, name
        for column in frame:  # column by column, so that a failure names the column
            pd.testing.assert_series_equal(got[name][column], frame[column], obj=f"{name}.{column}")


@pytest.fixture(scope="module")
def one_partition(small_world_dir, small_features) -> Path:
    """The session's small world, built as one partition in this process."""
    return small_world_dir


def _run(settings: Settings, data_dir: Path, key_root: Path) -> None:
    run_etl(settings, data_dir, key_root)
    run_build(settings, data_dir, key_root)


@pytest.fixture(scope="module")
def four_partitions(one_partition, key_root, tmp_path_factory) -> Path:
    """The same world built as four partitions by a two-worker local cluster."""
    data_dir = _world_copy(one_partition, tmp_path_factory.mktemp("four-partitions"))
    _run(load_settings("small", FOUR_PARTITIONS), data_dir, key_root)
    return data_dir


@pytest.mark.slow
def test_a_two_worker_local_cluster_builds_the_same_tables_as_one_partition(
    one_partition, four_partitions
):
    assert len(list((four_partitions / "clean" / "vitals.parquet").glob("*.parquet"))) == 4
    _assert_same_tables(one_partition / "clean", four_partitions / "clean")
    _assert_same_tables(one_partition / "features", four_partitions / "features")
    assert not list(four_partitions.glob(".*-parts")), "staged parts are removed once published"


@pytest.mark.slow
def test_the_dashboard_reads_four_partitions_as_one(one_partition, four_partitions):
    whole = data.Inputs("small", (), str(one_partition))
    parted = data.Inputs("small", tuple(FOUR_PARTITIONS), str(four_partitions))
    order = ["patient_key", "admitted_at"]

    def stays(inputs: data.Inputs) -> pd.DataFrame:
        return data.stays(inputs).sort_values(order, ignore_index=True)

    pd.testing.assert_frame_equal(stays(parted), stays(whole))
    at = data.clean(whole)["encounters"]["admitted_at"].max()
    kb = KnowledgeBase.of(whole.settings())
    for case, (cases_whole, features_whole) in analysis.current_cases(
        partitions.read_part(one_partition / "clean", 0), whole.settings().features, kb, at
    ).items():
        work = functools.partial(
            analysis.current_cases, config=parted.settings().features, kb=kb, at=at
        )
        cases_parted, features_parted = analysis.combine_cases(data._on_partitions(parted, work))[
            case
        ]
        assert len(cases_parted) == len(cases_whole) > 0, case
        order = cases_whole.sort_values("encounter_key").index
        again = cases_parted.sort_values("encounter_key").index
        pd.testing.assert_frame_equal(
            features_parted.loc[again].reset_index(drop=True),
            features_whole.loc[order].reset_index(drop=True),
            obj=case,
        )
    pd.testing.assert_frame_equal(data.kpi(parted)["readmissions"], data.kpi(whole)["readmissions"])


@pytest.fixture
def running_cluster(tmp_path) -> str:
    """A ``dask scheduler`` and one ``dask worker``, started as separate processes on 127.0.0.1."""
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    log = (tmp_path / "dask.log").open("w")
    commands = [
        [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard"],
        [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
    ]  # fmt: skip
    processes = [subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT) for c in commands]
    yield address
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_running_scheduler_and_worker_get_the_same_work_and_give_the_same_tables(
    one_partition, key_root, tmp_path, running_cluster
):
    data_dir = _world_copy(one_partition, tmp_path / "data")
    settings = load_settings(
        "small",
        ["engine.partition_patients=2000", f"engine.scheduler_address={running_cluster}",
         "engine.connect_timeout_seconds=30"],
    )  # fmt: skip
    _run(settings, data_dir, key_root)
    _assert_same_tables(one_partition / "features", data_dir / "features")


def test_a_scheduler_that_does_not_answer_is_named_in_the_error(one_partition, key_root, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    settings = load_settings(
        "small", [f"engine.scheduler_address={address}", "engine.connect_timeout_seconds=1"]
    )
    with pytest.raises(engine.EngineError, match=f"no Dask scheduler answers at {address}"):
        run_etl(settings, _world_copy(one_partition, tmp_path), key_root)
    assert not (tmp_path / "clean").exists()


def test_the_scheduler_address_in_the_environment_wins_over_the_configuration(monkeypatch):
    settings = load_settings("small", ["engine.scheduler_address=tcp://10.0.0.1:8786"])
    assert engine.scheduler_address(settings.engine) == "tcp://10.0.0.1:8786"
    monkeypatch.setenv("HOSPITAL_DASK_SCHEDULER", "tcp://127.0.0.1:9999")
    assert engine.scheduler_address(settings.engine) == "tcp://127.0.0.1:9999"
    monkeypatch.setenv("HOSPITAL_DASK_SCHEDULER", "127.0.0.1")
    with pytest.raises(engine.EngineError, match=r"\$HOSPITAL_DASK_SCHEDULER is '127.0.0.1'"):
        engine.scheduler_address(settings.engine)


def _dies_once(marker_dir: Path, item: int) -> int:
    """Kills its own worker process the first time it sees ``item``."""
    marker = marker_dir / str(item)
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return item * item


@pytest.mark.slow
def test_a_worker_killed_mid_partition_is_replaced_and_the_partition_retried(tmp_path):
    settings = load_settings("small", ["engine.local_workers=2"])
    squares = engine.map_partitions(
        functools.partial(_dies_once, tmp_path), [1, 2, 3], settings.engine, "test"
    )
    assert squares == [1, 4, 9]


@pytest.mark.slow
def test_a_failed_partition_is_named_and_the_next_run_redoes_only_it(
    one_partition, key_root, tmp_path
):
    data_dir = _world_copy(one_partition, tmp_path)
    settings = load_settings("small", [*FOUR_PARTITIONS, "engine.retries=0"])
    split = partitions.split_world(data_dir, ["raw/vitals"], 4)
    damaged = split.path("raw/vitals", 2)
    intact = damaged.read_bytes()
    damaged.write_bytes(b"not parquet")
    with pytest.raises(engine.EngineError, match=r"etl: 1 of 4 partitions failed.*partition 2: "):
        run_etl(settings, data_dir, key_root)
    assert not (data_dir / "clean").exists()
    markers = sorted((data_dir / ".etl-parts" / "done" / "done").glob("*.json"))
    assert [m.stem for m in markers] == ["00000", "00001", "00003"]
    damaged.write_bytes(intact)
    run_etl(settings, data_dir, key_root)
    _assert_same_tables(one_partition / "clean", data_dir / "clean")


@pytest.mark.slow
def test_quarantine_counts_add_up_across_partitions_as_in_one(one_partition, key_root, tmp_path):
    lifted = "features.etl.max_quarantine_share=1"
    results = {}
    for name, overrides in {"one": [lifted], "four": [lifted, *FOUR_PARTITIONS]}.items():
        data_dir = _world_copy(one_partition, tmp_path / name)
        corrupt.corrupt_world(data_dir, rate=0.02, seed=7)
        results[name] = run_etl(load_settings("small", overrides), data_dir, key_root)
        summary = results[name].summary
        assert (summary["rows_in"] == summary["accepted"] + summary["quarantined"]).all()
        quarantined = pd.read_parquet(data_dir / "quarantine" / "vitals.parquet")
        assert quarantined["source_row"].is_unique
    pd.testing.assert_frame_equal(results["one"].summary, results["four"].summary)
    pd.testing.assert_frame_equal(results["one"].reasons, results["four"].reasons)
    assert results["four"].summary["quarantined"].sum() > 0


@given(st.lists(st.integers(min_value=1, max_value=2**62), min_size=1), st.integers(1, 64))
def test_every_patient_falls_in_one_of_the_partitions_whatever_their_identifier(ids, n):
    parts = partitions.patient_partition(pd.Series(ids), n)
    assert ((parts >= 0) & (parts < n)).all()
    assert (parts == partitions.patient_partition(pd.Series(ids), n)).all()


def test_unreadable_identifiers_fall_in_the_first_partition():
    parts = partitions.patient_partition(pd.Series(["12", None, "junk", 12.0]), 8)
    assert parts[1] == parts[2] == 0
    assert parts[0] == parts[3]


def test_partitions_share_out_patients_evenly():
    counts = np.bincount(partitions.patient_partition(pd.Series(np.arange(1, 100_001)), 20))
    assert counts.min() > 4_700
    assert counts.max() < 5_300
