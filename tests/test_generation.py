"""Generation as a user runs it: deterministic, atomic, idempotent, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from configs import load_settings
from data_gen import generate, records, schema, world
from data_gen.__main__ import app


def _hashes(data_dir: Path) -> dict[str, str]:
    manifest = json.loads((data_dir / "raw" / "manifest.json").read_text())
    return {name: entry["sha256"] for name, entry in manifest["tables"].items()}


@pytest.mark.slow
def test_same_config_and_seed_give_byte_identical_tables_for_any_worker_count(
    tmp_path, small_world_dir
):
    again = tmp_path / "two-workers"
    generate.generate(load_settings("small", ["workers=2"]), again)
    assert _hashes(again) == _hashes(small_world_dir)
    for part in ("raw", "oracle"):
        for path in sorted((small_world_dir / part).glob("*.parquet")):
            assert path.read_bytes() == (again / part / path.name).read_bytes(), path.name


def test_a_different_seed_gives_a_different_world():
    config = load_settings("small", ["n_patients=300", "block_size=300"]).data_gen
    first = records.generate_block(world.plan_world(config), 0)["encounters"]
    other = records.generate_block(world.plan_world(config.model_copy(update={"seed": 7})), 0)[
        "encounters"
    ]
    assert not first["admitted_at"].equals(other["admitted_at"])


def test_blocks_do_not_depend_on_each_other():
    """Block 1 is the same whether or not block 0 was generated first (independent seeds)."""
    config = load_settings("small", ["n_patients=400", "block_size=200"]).data_gen
    plan = world.plan_world(config)
    alone = records.generate_block(plan, 1)["encounters"]
    records.generate_block(plan, 0)
    after = records.generate_block(plan, 1)["encounters"]
    assert alone.equals(after)
    assert alone["patient_id"].min() > 200


def test_is_current_only_for_the_same_world(small_world_dir, small_settings):
    assert generate.is_current(small_settings, small_world_dir)
    assert generate.is_current(load_settings("small", ["workers=3"]), small_world_dir)
    assert not generate.is_current(load_settings("small", ["data_gen.seed=99"]), small_world_dir)


def test_a_table_edited_after_generation_is_not_passed_on_as_current(tmp_path):
    settings = load_settings("small", ["n_patients=600", "block_size=200"])
    generate.generate(settings, tmp_path)
    assert generate.stale_reason(settings, tmp_path) is None
    vitals = tmp_path / "raw" / "vitals.parquet"
    frame = pd.read_parquet(vitals)
    frame.loc[0, "heart_rate"] = 300.0
    frame.to_parquet(vitals, index=False)
    assert "vitals.parquet differs from the SHA-256" in generate.stale_reason(settings, tmp_path)
    vitals.unlink()
    assert "vitals.parquet is missing" in generate.stale_reason(settings, tmp_path)


def test_interrupted_generation_leaves_the_previous_world_untouched(tmp_path, monkeypatch):
    settings = load_settings("small", ["n_patients=600", "block_size=200"])
    generate.generate(settings, tmp_path)
    before = _hashes(tmp_path)
    calls = {"n": 0}
    real = records.block_tables

    def failing_block(plan, block):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(plan, block)

    monkeypatch.setattr(records, "block_tables", failing_block)
    with pytest.raises(KeyboardInterrupt):
        generate.generate(
            load_settings("small", ["n_patients=600", "block_size=200", "data_gen.seed=5"]),
            tmp_path,
        )
    assert _hashes(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oracle", "raw"]


def test_cli_rejects_a_bad_override_naming_the_key(tmp_path):
    result = CliRunner().invoke(
        app, ["generate", "--profile", "small", "--data-dir", str(tmp_path), "n_patients=-5"]
    )
    assert result.exit_code == 2
    assert "data_gen.n_patients" in result.output
    assert "greater than or equal to 100" in result.output
    assert not (tmp_path / "raw").exists()


def test_cli_skips_an_up_to_date_world_and_reports_calibration(small_world_dir):
    runner = CliRunner()
    result = runner.invoke(
        app, ["generate", "--profile", "small", "--data-dir", str(small_world_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    report = runner.invoke(
        app, ["report", "--profile", "small", "--data-dir", str(small_world_dir)]
    )
    assert report.exit_code == 0, report.output
    for figure in (
        "mean length of stay",
        "30-day unplanned readmission",
        "bed utilisation",
        "sepsis",
    ):
        assert figure in report.output


def test_report_without_data_says_what_to_run(tmp_path):
    result = CliRunner().invoke(app, ["report", "--profile", "small", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "make data" in result.output


def test_a_last_block_of_one_patient_without_stays_is_written(tmp_path):
    overrides = [
        "n_patients=201",
        "block_size=200",
        "utilisation.elective_admissions_per_year=1e-9",
    ]
    generate.generate(load_settings("small", overrides), tmp_path)
    patients = pd.read_parquet(tmp_path / "raw" / "patients.parquet")
    assert patients["patient_id"].tolist() == list(range(1, 202))


def test_written_tables_have_exactly_the_declared_schemas(small_world_dir):
    for folder, schemas in (("raw", schema.RAW), ("oracle", schema.ORACLE)):
        for name, declared in schemas.items():
            written = pq.read_schema(small_world_dir / folder / f"{name}.parquet")
            assert written.remove_metadata().equals(declared), f"{folder}/{name}"
