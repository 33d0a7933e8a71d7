"""Interaction alerts in silent mode, judged against the world's adverse drug events: every event
a harmful pair caused was warned of, the interruptive tier stays rare, and the command writes its
tables and names what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from configs.vocabulary import ALERT_TIERS
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
