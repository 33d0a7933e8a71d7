"""Interaction alerts in silent mode, judged against the world's adverse drug events: every event
a harmful pair caused was warned of, the interruptive tier stays rare, and the command writes its
tables and names what is wrong. The efficacy study recovers the world's true effect of antibiotic
timing where the naive comparison does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from configs import load_settings
from configs.vocabulary import ALERT_TIERS
from pharmacy import PharmacyError, efficacy
from pharmacy import alerts as alerting
from pharmacy.__main__ import app


@pytest.fixture(scope="module")
def silent_mode(small_world_dir, small_etl, small_settings, key_root):
    orders = alerting.load_orders(small_world_dir / "clean", small_settings)
    raised = alerting.alerts(orders, small_settings)
    truth = alerting.true_harm(small_world_dir, small_settings, orders.stays, key_root)
    return orders, raised, truth


def test_every_event_a_harmful_pair_caused_was_warned_of_before_it_began(silent_mode):
    # Every pair the world makes harmful is in the knowledge base, and the world never reacts to
    # an alert: the second drug of a pair was ordered while the first was active, before onset.
    _, raised, truth = silent_mode
    caused = truth[truth["cause"] == "interaction"]
    assert len(caused) >= 5
    judged = alerting.against_harm(raised, caused, timed=True).set_index("tier")
    assert judged.loc[alerting.ANY_TIER, "sensitivity"] == 1.0
    assert judged.loc[list(ALERT_TIERS), "events_warned"].sum() >= len(caused)


def test_the_interruptive_tier_stays_under_five_alerts_per_100_orders(silent_mode):
    orders, raised, _ = silent_mode
    rates = alerting.rates(orders.orders, raised).set_index("tier")
    assert rates.loc["interruptive", "alerts_per_100_orders"] < 5
    assert rates.loc[list(ALERT_TIERS), "alerts"].sum() == rates.loc["any", "alerts"] == len(raised)
    by_unit = alerting.rates(orders.orders, raised, by="unit")
    assert by_unit.groupby("tier")["alerts"].sum()["any"] == len(raised)


def test_coded_harm_is_an_acquired_code_of_the_knowledge_bases_lists(small_settings):
    diagnoses = pd.DataFrame(
        {
            "encounter_key": ["a", "a", "b", "c", "c"],
            "code": ["D68.32", "I10", "E87.5", "E87.5", "E87.5"],
            "present_on_admission": [False, False, True, False, False],
        }
    )
    coded = alerting.coded_events(diagnoses, small_settings)
    assert coded.values.tolist() == [["a", "bleeding"], ["c", "hyperkalaemia"]]


@given(trials=st.integers(1, 5000), share=st.floats(0, 1))
def test_a_wilson_interval_holds_its_proportion_within_zero_and_one(trials, share):
    successes = round(share * trials)
    p, low, high = alerting.wilson(successes, trials)
    assert 0.0 <= low <= p <= high <= 1.0
    assert all(np.isnan(alerting.wilson(0, 0)))


def test_the_command_writes_its_tables_and_names_a_foreign_key(
    small_world_dir, small_etl, key_root, small_settings, tmp_path, monkeypatch
):
    key = (key_root / small_settings.features.etl.key_file).read_text().strip()
    common = ["--profile", "small", "--data-dir", str(small_world_dir),
              f"medications.tables_dir={tmp_path}"]  # fmt: skip
    monkeypatch.setenv(small_settings.features.etl.key_env, key)
    done = CliRunner().invoke(app, ["alerts", *common])
    assert done.exit_code == 0, done.output
    written = {p.name for p in (tmp_path / "alerts").iterdir()}
    assert {"rates.csv", "against_coded_harm.csv", "against_true_harm.csv"} <= written
    monkeypatch.setenv(small_settings.features.etl.key_env, "another-key-" + "0" * 40)
    foreign = CliRunner().invoke(app, ["alerts", *common])
    assert foreign.exit_code == 1
    assert "is not the one the ETL used" in foreign.output
    missing = CliRunner().invoke(app, ["alerts", "--profile", "small", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1
    assert "run `make etl` first" in missing.output


# --------------------------------------------------------------------------------------------
# The efficacy study


def _confounded(n: int, seed: int, effect: float) -> pd.DataFrame:
    """A cohort in which sicker patients (higher lactate) are treated early more often and
    deteriorate more, with a known risk difference ``effect`` (early minus late), linear in the
    covariates as the outcome model assumes."""
    rng = np.random.default_rng(seed)
    lactate = rng.gamma(4.0, 0.45, n)
    early = rng.random(n) < 1 / (1 + np.exp(-2.0 * (lactate - 1.5)))
    risk = np.clip(0.05 + 0.12 * lactate + effect * early, 0, 1)
    return pd.DataFrame(
        {
            "encounter_key": [f"k{i}" for i in range(n)],
            "diagnosis_group": rng.choice(["sepsis", "pneumonia"], n),
            "hours_to_first_dose": np.where(early, 1.5, 6.0),
            "early": early.astype(float),
            "deteriorated": (rng.random(n) < risk).astype(float),
            "admit_lactate": lactate,
            "emergency_arrival": (rng.random(n) < 0.8).astype(float),
            "age_decades_over_65": rng.normal(0, 1.5, n),
            "charlson_index": rng.poisson(1.5, n).astype(float),
        }
    )


def test_adjustment_removes_confounding_by_severity_the_naive_difference_keeps():
    table = efficacy.estimates(_confounded(20_000, seed=3, effect=-0.05)).set_index("method")
    assert table.loc[efficacy.NAIVE, "risk_difference"] > 0.0  # early looks harmful
    for method in efficacy.METHODS:
        row = table.loc[method]
        assert row["low"] <= -0.05 <= row["high"], row
        assert abs(row["risk_difference"] + 0.05) < 0.015, row
    assert (table["stays"] == 20_000).all()


def test_weighting_balances_what_steered_the_timing():
    balance = efficacy.balance(_confounded(20_000, seed=4, effect=0.0)).set_index("covariate")
    assert balance.loc["admit_lactate", "smd_before"] > 0.5
    assert (balance["smd_weighted"].abs() < 0.1).all(), balance


def test_a_cohort_in_one_arm_or_without_stays_is_refused(small_world_dir, small_etl, tmp_path):
    everyone_early = _confounded(500, seed=5, effect=0.0).assign(early=1.0)
    with pytest.raises(PharmacyError, match="one arm"):
        efficacy.estimates(everyone_early)
    nobody = load_settings(
        "small", ["medications.antibiotic_timing_study.diagnosis_groups=[stroke]"]
    )
    with pytest.raises(PharmacyError, match="the study has no cohort"):
        efficacy.load_cohort(small_world_dir / "clean", nobody)
    unknown = load_settings("small", ["medications.antibiotic_timing_study.diagnosis_groups=[flu]"])
    with pytest.raises(PharmacyError, match=r"\['flu'\] are no diagnosis groups"):
        efficacy.load_cohort(small_world_dir / "clean", unknown)


def test_the_cohort_is_the_infections_with_a_given_antibiotic_timed_from_admission(
    small_world_dir, small_etl, small_clean, small_settings
):
    stays = efficacy.load_cohort(small_world_dir / "clean", small_settings)
    assert set(stays["diagnosis_group"]) == {
        "sepsis",
        "pneumonia",
        "urinary_infection",
        "cellulitis",
    }
    assert stays["encounter_key"].is_unique
    assert (stays["hours_to_first_dose"] > 0).all()
    assert ((stays["hours_to_first_dose"] < 3) == (stays["early"] == 1)).all()
    e = small_clean["encounters"].set_index("encounter_key").loc[stays["encounter_key"]]
    assert (stays["deteriorated"].to_numpy() == e["deterioration_event"].notna().to_numpy()).all()
    assert stays["admit_lactate"].notna().mean() > 0.95


@pytest.mark.slow
def test_the_adjusted_effect_of_timely_antibiotics_covers_the_truth_the_naive_one_misses(
    medium_world_dir, medium_etl, medium_settings, key_root
):
    stays = efficacy.load_cohort(medium_world_dir / "clean", medium_settings)
    assert len(stays) > 1500
    truth = efficacy.true_effect(medium_world_dir, medium_settings, stays, key_root)
    assert -0.06 < truth["risk_difference"] < -0.01  # timely antibiotics help
    table = efficacy.estimates(stays).set_index("method")
    naive, adjusted = table.loc[efficacy.NAIVE], table.loc["doubly robust (AIPW)"]
    assert not naive["low"] <= truth["risk_difference"] <= naive["high"], naive
    assert naive["risk_difference"] > 0  # sicker patients, treated sooner, deteriorate more
    assert adjusted["low"] <= truth["risk_difference"] <= adjusted["high"], adjusted
    assert abs(adjusted["risk_difference"] - truth["risk_difference"]) < 0.03


def test_the_efficacy_command_writes_its_tables(
    small_world_dir, small_etl, key_root, small_settings, tmp_path, monkeypatch
):
    key = (key_root / small_settings.features.etl.key_file).read_text().strip()
    monkeypatch.setenv(small_settings.features.etl.key_env, key)
    done = CliRunner().invoke(
        app,
        ["efficacy", "--profile", "small", "--data-dir", str(small_world_dir),
         f"medications.tables_dir={tmp_path}"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    estimates = pd.read_csv(tmp_path / "efficacy" / "estimates.csv")
    assert list(estimates["method"]) == [efficacy.NAIVE, *efficacy.METHODS, efficacy.TRUTH]
    assert estimates["risk_difference"].notna().all()
    balance = pd.read_csv(tmp_path / "efficacy" / "balance.csv")
    assert "admit_lactate" in set(balance["covariate"])
