"""The world is calibrated and its causal model behaves as documented (25,000 patients)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from data_gen import report as rep
from features import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def calibration_world(medium_world_dir, medium_settings):
    settings, data_dir = medium_settings, medium_world_dir
    tables = rep.load_raw(
        data_dir,
        (
            "facilities",
            "patients",
            "encounters",
            "vitals",
            "labs",
            "nurse_staffing",
            "ed_visits",
            "ed_providers",
            "claims",
        ),
    )
    tables["oracle"] = pd.read_parquet(data_dir / "oracle" / "encounters.parquet")
    tables["oracle_staffing"] = pd.read_parquet(data_dir / "oracle" / "staffing.parquet")
    tables["oracle_vitals"] = pd.read_parquet(data_dir / "oracle" / "vitals.parquet")
    for stem in ("patients", "adverse_drug_events"):
        tables[f"oracle_{stem}"] = pd.read_parquet(data_dir / "oracle" / f"{stem}.parquet")
    tables["oracle_encounters"] = tables["oracle"]
    config = settings.data_gen
    return SimpleNamespace(
        tables=tables,
        config=config,
        start=pd.Timestamp(config.start_date),
        end=pd.Timestamp(config.end_date),
    )


def test_headline_figures_meet_the_brief(calibration_world):
    w = calibration_world
    tables = w.tables
    off = [c for c in rep.calibration(tables, w.start, w.end) if not c.ok]
    assert off == []


def test_nursing_and_the_ed_meet_published_figures(calibration_world):
    off = [c for c in rep.operations(calibration_world.tables) if not c.ok]
    assert off == []


def test_payments_meet_published_figures(calibration_world):
    off = [c for c in rep.finance(calibration_world.tables) if not c.ok]
    assert off == []


def test_medicines_and_their_timing_meet_published_figures(calibration_world):
    w = calibration_world
    off = [c for c in rep.medications(w.tables, w.config) if not c.ok]
    assert off == []


def test_observed_readmission_follows_the_oracle_month_by_month_while_followed_whole(
    calibration_world,
):
    tables = calibration_world.tables
    stays = tables["encounters"].rename(columns={"patient_id": "patient_key"})
    data_end = stays["admitted_at"].max()
    labels = build.readmission_labels(stays, [30], data_end)
    index = stays.join(labels).merge(tables["oracle"], on="encounter_id")
    index = index.dropna(subset=["readmitted_30d"])
    month = index["discharged_at"].dt.to_period("M")
    first = stays["admitted_at"].min().to_period("M") + 1  # the first month misses earlier stays
    last = (data_end - pd.Timedelta(days=30)).to_period("M") - 1  # the last followed whole
    index = index[(month >= first) & (month <= last)]
    p = index["p_readmit_30d"]
    by_month = (
        pd.DataFrame({"observed": index["readmitted_30d"], "expected": p, "variance": p * (1 - p)})
        .groupby(month[index.index])
        .sum()
    )
    assert len(by_month) >= 20
    z = (by_month["observed"] - by_month["expected"]) / np.sqrt(by_month["variance"])
    assert (z.abs() < 3.5).all(), z  # about 650 index stays a month
    for months in (by_month, by_month.tail(4)):  # all, and those before the records end
        pooled = months.sum()
        assert abs(pooled["observed"] - pooled["expected"]) < 3 * np.sqrt(pooled["variance"])


def test_principal_diagnoses_keep_their_configured_shares(calibration_world):
    w = calibration_world
    tables = w.tables
    shares = rep.diagnosis_shares(tables["encounters"], w.config)
    error = (shares["share"] - shares["target"]).abs()
    assert (error <= np.maximum(0.3 * shares["target"], 0.004)).all(), shares[
        error > 0.3 * shares["target"]
    ]
    sepsis = shares.set_index("group").loc["sepsis", "share"]
    named = shares[~shares["group"].str.startswith(("other", "emergency", "elective", "joint"))]
    assert sepsis == named["share"].max()


def test_oracle_expectations_match_realised_outcomes(calibration_world):
    w = calibration_world
    tables = w.tables
    e = tables["encounters"].merge(tables["oracle"], on="encounter_id")
    assert rep.los_days(e).mean() == pytest.approx(e["expected_los_days"].mean(), rel=0.03)
    assert e["total_cost_usd"].mean() == pytest.approx(e["expected_cost_usd"].mean(), rel=0.03)
    assert e["icu_days"].mean() == pytest.approx(e["expected_icu_days"].mean(), rel=0.12)
    for realised, oracle in [
        (e["discharge_disposition"] == "expired", e["p_in_hospital_death"]),
        (e["treatment_success"], e["p_treatment_success"]),
        (e["complication"], e["p_complication"]),
    ]:
        standard_error = np.sqrt(oracle.mean() * (1 - oracle.mean()) / len(e))
        assert realised.mean() == pytest.approx(oracle.mean(), abs=4 * standard_error)


def test_readmission_oracle_is_calibrated(calibration_world):
    w = calibration_world
    tables = w.tables
    e = tables["encounters"].merge(tables["oracle"], on="encounter_id")
    index = rep.index_stays(e, w.end)
    realised = rep.readmitted_within(e, 30)[index].astype(float)
    oracle = e.loc[index, "p_readmit_30d"]
    standard_error = np.sqrt(oracle.mean() * (1 - oracle.mean()) / index.sum())
    assert realised.mean() == pytest.approx(oracle.mean(), abs=4 * standard_error)
    by_decile = realised.groupby(pd.qcut(oracle, 5, labels=False)).mean()
    assert by_decile.is_monotonic_increasing
    assert by_decile.iloc[-1] > 3 * by_decile.iloc[0]


def test_deterioration_oracle_is_calibrated(calibration_world):
    w = calibration_world
    tables = w.tables
    v = tables["vitals"].merge(
        tables["oracle_vitals"], on=["observation_id", "encounter_id", "observed_at"]
    )
    v = v.merge(tables["encounters"][["encounter_id", "deterioration_at"]], on="encounter_id")
    v = v[v["p_deterioration_24h"].notna()]
    ahead = v["deterioration_at"] - v["observed_at"]
    event_within_day = (ahead > pd.Timedelta(0)) & (ahead <= pd.Timedelta(hours=24))
    assert event_within_day.mean() == pytest.approx(v["p_deterioration_24h"].mean(), rel=0.12)


def test_deterioration_is_preceded_by_drifting_vitals(calibration_world):
    w = calibration_world
    tables = w.tables
    v = tables["vitals"].merge(tables["encounters"], on="encounter_id")
    hours_before = (v["deterioration_at"] - v["observed_at"]).dt.total_seconds() / 3600
    late = v[(hours_before > 0) & (hours_before <= 12)]
    early = v[(hours_before > 36) & (hours_before <= 72)]
    quiet = v[v["deterioration_at"].isna()]
    for sign, direction in [
        ("respiratory_rate", 1),
        ("heart_rate", 1),
        ("systolic_bp", -1),
        ("spo2", -1),
    ]:
        assert direction * (late[sign].mean() - early[sign].mean()) > 0, sign
        assert direction * (late[sign].mean() - quiet[sign].mean()) > 0, sign
    assert late["on_oxygen"].mean() > 2 * quiet["on_oxygen"].mean()


def test_treatment_protocols_are_confounded_by_severity(calibration_world):
    w = calibration_world
    tables = w.tables
    e = tables["encounters"]
    lactate = tables["labs"].query("test == 'lactate'").set_index("encounter_id")["value"]
    e = e.assign(lactate=e["encounter_id"].map(lactate))
    by_protocol = e.groupby("treatment_protocol")
    assert (
        by_protocol["lactate"].mean()["enhanced"] > by_protocol["lactate"].mean()["standard"] + 0.2
    )
    # The naive difference in success understates the enhanced protocol's true benefit.
    naive = by_protocol["treatment_success"].mean()
    true_effect = w.config.treatment.protocols["enhanced"].true_effect_log_odds
    naive_log_odds = np.log(naive / (1 - naive))
    assert naive_log_odds["enhanced"] - naive_log_odds["standard"] < true_effect - 0.2


def test_costs_and_stays_depend_on_diagnosis_and_are_right_skewed(calibration_world):
    w = calibration_world
    tables = w.tables
    e = tables["encounters"]
    los = rep.los_days(e)
    by_code = los.groupby(e["primary_dx_code"].str[:3]).mean()
    assert by_code["A41"] > 1.5 * by_code["M17"]  # sepsis stays outlast elective knee replacements
    assert los.median() < los.mean()
    assert e["total_cost_usd"].median() < e["total_cost_usd"].mean()
    assert (e["total_cost_usd"] > 0).all()
