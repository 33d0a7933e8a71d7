"""The dashboard's analyses as pure functions: the funnel plot's limits, treatment effects
adjusted for severity against the world's true effects, and the risk lists' cases as they stood
at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import MEDIUM
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from configs import load_settings
from dashboard import analysis, data
from features.interactions import KnowledgeBase

pytestmark = pytest.mark.slow


@settings(max_examples=60, deadline=None)
@given(
    expected=st.floats(min_value=0.5, max_value=2000),
    coverage=st.floats(min_value=0.8, max_value=0.999),
)
def test_funnel_limits_bracket_one_and_hold_the_poisson_count(expected, coverage):
    low, high = analysis.funnel_limits(np.array([expected]), coverage)
    assert low[0] <= 1.0 <= high[0]
    tail = (1 - coverage) / 2
    # The limits lie between the neighbouring integer quantiles of the Poisson count.
    assert (
        stats.poisson.ppf(tail, expected) - 1
        <= low[0] * expected
        <= stats.poisson.ppf(tail, expected)
    )
    upper = stats.poisson.ppf(1 - tail, expected)
    assert upper - 1 <= high[0] * expected <= upper


def test_funnel_limits_narrow_as_facilities_grow():
    low, high = analysis.funnel_limits(np.array([10.0, 100.0, 1000.0]), 0.95)
    assert np.all(np.diff(high - low) < 0)
    assert high[1] == pytest.approx(1.2, abs=0.02)
    assert low[1] == pytest.approx(0.81, abs=0.02)


@pytest.fixture(scope="module")
def treated_stays(medium_world_dir, medium_etl) -> pd.DataFrame:
    """The medium world (the small profile has too few treated stays to tell estimators apart),
    cleaned, as the dashboard's stay table."""
    return data.stays(data.Inputs("small", MEDIUM, str(medium_world_dir)))


def test_adjusted_treatment_effects_recover_the_true_effects_where_naive_ones_do_not(
    treated_stays,
):
    truth = load_settings("small").data_gen.treatment.protocols
    _, effects = analysis.treatment_effects(treated_stays)
    assert set(effects["protocol"]) == {"enhanced", "conservative"}
    for row in effects.itertuples():
        true = truth[row.protocol].true_effect_log_odds
        assert row.adjusted_low <= true <= row.adjusted_high, row
        assert abs(row.adjusted_log_odds - true) < 0.1, row
        assert not row.naive_low <= true <= row.naive_high, row
        assert abs(row.naive_log_odds - true) > 0.2, row


def test_adjusted_success_rates_standardise_over_the_same_patients(treated_stays):
    rates, _ = analysis.treatment_effects(treated_stays)
    survivors = treated_stays[treated_stays["survived"]]
    overall = rates[rates["diagnosis_group"] == analysis.ALL].set_index("protocol")
    assert overall["stays"].sum() == len(survivors)
    observed = survivors.groupby("protocol")["treatment_success"].mean()
    assert np.allclose(overall.loc[observed.index, "naive_rate"], observed)
    # Sicker patients get the enhanced protocol: as observed it looks less good than it is.
    assert overall.loc["enhanced", "adjusted_rate"] > overall.loc["enhanced", "naive_rate"]


def test_risk_lists_use_only_what_was_recorded_by_then(small_clean, small_settings):
    e = small_clean["encounters"]
    at = e["admitted_at"].quantile(0.6)
    kb = KnowledgeBase.of(small_settings)
    before = analysis.current_cases(small_clean, small_settings.features, kb, at)
    in_hospital = ((e["admitted_at"] <= at) & (e["discharged_at"] > at)).sum()
    assert len(before["discharge"][0]) == len(before["admission"][0]) == in_hospital > 0
    assert 0 < len(before["ward"][0]) <= in_hospital

    later = {name: table.copy() for name, table in small_clean.items()}
    late = later["encounters"]
    late["discharged_at"] = late["discharged_at"].where(
        late["discharged_at"] <= at, late["discharged_at"] + pd.Timedelta(days=3)
    )
    late["discharge_disposition"] = late["discharge_disposition"].where(
        late["discharged_at"] <= at, "snf"
    )
    late["complication"] = True
    for table, recorded in (("vitals", "observed_at"), ("labs", "drawn_at")):
        after = later[table][recorded] > at
        value = "heart_rate" if table == "vitals" else "value"
        later[table].loc[after, value] = later[table].loc[after, value] * 1.5
    after = later["procedures"]["performed_at"] > at
    later["procedures"] = pd.concat([later["procedures"], later["procedures"][after]])
    orders = later["medications"]
    warfarin = small_settings.data_gen.medications.formulary["warfarin"].rxcui
    orders.loc[orders["ordered_at"] > at, "rxnorm_code"] = warfarin
    orders.loc[orders["stopped_at"] > at, "stopped_at"] += pd.Timedelta(days=2)
    changed = analysis.current_cases(later, small_settings.features, kb, at)
    for case in ("admission", "discharge", "ward"):
        pd.testing.assert_frame_equal(before[case][1], changed[case][1])
