"""Drift and performance monitoring: the verdict rules, and a drifted next period told apart from
one without a shift, on the small world's champions."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

import registry
from configs import load_settings
from data_gen import period
from features.build import run_build
from features.etl import run_etl
from monitoring import drift

pytestmark = pytest.mark.slow


def _summary(**changes) -> drift.TaskDrift:
    values = {
        "task": "readmission", "model": "hospital-readmission v1", "reference_rows": 1000,
        "current_rows": 500, "labelled_rows": 400, "drifted_features": [], "drift_share": 0.0,
        "prediction_drift": False, "metric": "auroc", "reference_value": 0.72,
        "current_value": 0.72,
    }  # fmt: skip
    return drift.TaskDrift(**(values | changes))


@pytest.fixture(scope="module")
def config():
    return load_settings("small").monitoring.drift


def test_no_drift_and_a_steady_metric_is_ok(config):
    assert drift.verdict(_summary(), config) == ("ok", [])


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"drift_share": 0.05}, "warn"),
        ({"drift_share": 0.35}, "alert"),
        ({"prediction_drift": True}, "warn"),
        ({"current_value": 0.72 * (1 - 0.12)}, "warn"),
        ({"current_value": 0.72 * (1 - 0.25)}, "alert"),
        ({"current_value": 0.80}, "ok"),  # a better AUROC is no cause for concern
        ({"metric": "rmse", "reference_value": 3.0, "current_value": 3.0 * 1.15}, "warn"),
        ({"metric": "rmse", "reference_value": 3.0, "current_value": 2.5}, "ok"),
        ({"current_value": None, "drift_share": 0.02}, "ok"),
    ],
)
def test_the_verdict_follows_the_configured_thresholds(config, changes, expected):
    level, reasons = drift.verdict(_summary(**changes), config)
    assert level == expected
    assert bool(reasons) == (expected != "ok")


def test_drift_results_read_evidently_value_drift_tests():
    snapshot = {
        "tests": [
            {"metric_config": {"params": {"type": "evidently:metric_v2:ValueDrift",
                                          "column": "age_years"}}, "status": "TestStatus.FAIL"},
            {"metric_config": {"params": {"type": "evidently:metric_v2:ValueDrift",
                                          "column": "female"}}, "status": "TestStatus.SUCCESS"},
            {"metric_config": {"params": {"type": "evidently:metric_v2:DriftedColumnsCount"}},
             "status": "TestStatus.FAIL"},
        ]
    }  # fmt: skip
    assert drift.drift_results(snapshot) == {"age_years": True, "female": False}


@pytest.fixture(scope="module")
def periods(trained, small_world_dir, key_root):
    """The readmission champion compared with the none and older_sicker periods."""
    settings, _ = trained
    champion = registry.load_champion(settings, "readmission")
    model, name = champion.model, champion.label
    reference = drift.reference_frame(settings, "readmission", small_world_dir)
    results = {}
    for scenario in ("none", "older_sicker"):
        period.generate_period(settings, scenario, small_world_dir)
        folder = period.period_dir(small_world_dir, scenario)
        run_etl(settings, folder, key_root)
        run_build(settings, folder, key_root)
        current = drift.period_frame(settings, "readmission", small_world_dir, scenario)
        results[scenario] = drift.compare(
            "readmission",
            settings.tasks["readmission"],
            model,
            name,
            reference,
            current,
            settings.monitoring.drift,
        )
    return results


def test_an_older_sicker_period_is_flagged_and_no_shift_is_not(periods):
    _, none = periods["none"]
    _, older = periods["older_sicker"]
    assert none.verdict == "ok", (none.reasons, none.drifted_features)
    assert older.verdict in ("warn", "alert")
    assert "age_years" in older.drifted_features
    assert older.drift_share > none.drift_share


def test_the_reports_are_written_for_people_and_machines_without_identifiers(
    periods, small_world_dir, tmp_path
):
    snapshots, summary = periods["older_sicker"]
    drift.write_task(snapshots, summary, tmp_path)
    assert (tmp_path / "readmission.drift.html").stat().st_size > 10_000
    assert (tmp_path / "readmission.drift.json").read_text().startswith("{")
    assert '"verdict"' in (tmp_path / "readmission.summary.json").read_text()
    text = (tmp_path / "readmission.drift.json").read_text()
    table = pd.read_parquet(small_world_dir / "features" / "readmission.parquet")
    for key in [*table["patient_key"].head(100), *table["encounter_key"].head(100)]:
        assert key not in text


def test_monitoring_without_an_audit_log_says_what_is_missing(trained, small_world_dir, tmp_path):
    settings, _ = trained
    command = [sys.executable, "-m", "monitoring", "run", "--profile", "small",
               "--data-dir", str(small_world_dir), "scenario=audit",
               f"audit_log={tmp_path / 'none.jsonl'}", f"reports_dir={tmp_path / 'reports'}",
               f"workspace={tmp_path / 'workspace'}"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.training.tracking_uri}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 1
    assert "no audit log" in done.stderr
    assert not list((tmp_path / "reports").glob("*"))  # no run folder, not even a partial one
