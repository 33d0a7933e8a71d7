"""Decisions: the transitional-care programme's enrolment, its worth against the world's truth and
the penalty's fall; the brief's claims; the rapid-response policy's workload and catch; and the
command line on a prospective period of the small world."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import registry
from configs.decisions import RapidResponse, SeedClaims, TransitionalCare
from decisions import (
    RISK,
    DecisionError,
    period_folder,
    period_rows,
    programme,
    rapid_response,
    transport,
    validation,
)
from decisions.__main__ import app
from finance import readmissions
from training import evaluate, tripod

CARE = TransitionalCare(
    relative_reduction=0.25,
    cost_per_patient_usd=400,
    capacities_per_month=[5, 20],
    lace_threshold=10,
    seed=1,
)


def _stays(n_per_month: int, months: int, seed: int) -> pd.DataFrame:
    """Index stays over ``months`` months with a true risk, a noisy model's risk and a LACE."""
    rng = np.random.default_rng(seed)
    n = n_per_month * months
    truth = rng.beta(1.2, 8, n)
    return pd.DataFrame(
        {
            "encounter_key": [f"e{i}" for i in range(n)],
            "prediction_time": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(np.repeat(np.arange(months) * 30, n_per_month) + 1, unit="D"),
            programme.TRUE_RISK: truth,
            RISK: np.clip(truth + rng.normal(0, 0.05, n), 0.001, 0.999),
            programme.LACE: np.clip(np.round(truth * 60 + rng.normal(0, 3, n)), 0, 19),
            programme.LABEL: (rng.random(n) < truth).astype(float),
        }
    )


def test_each_rule_enrols_at_most_the_capacity_each_month_in_its_own_order():
    stays = _stays(40, 3, seed=0)
    month = stays["prediction_time"].dt.to_period("M")
    for rule in programme.RULES:
        enrolled = programme.enrol(stays, rule, 10, lace_threshold=10, seed=2)
        assert (pd.Series(enrolled).groupby(month.to_numpy()).sum() <= 10).all()
    by_risk = programme.enrol(stays, "champion", 10, 10, seed=2)
    for _, rows in stays.groupby(month):
        chosen = by_risk[rows.index]
        assert rows.loc[chosen, RISK].min() >= rows.loc[~chosen, RISK].max()
    by_lace = programme.enrol(stays, "lace", 10, 10, seed=2)
    assert (stays.loc[by_lace, programme.LACE] >= 10).all()
    assert np.array_equal(
        programme.enrol(stays, "random", 10, 10, seed=2),
        programme.enrol(stays, "random", 10, 10, seed=2),
    )
    with pytest.raises(DecisionError, match="unknown targeting rule 'gut'"):
        programme.enrol(stays, "gut", 10, 10, seed=2)


def test_lace_enrols_fewer_than_the_capacity_when_fewer_qualify():
    stays = _stays(40, 2, seed=1)
    qualifying = int((stays[programme.LACE] >= 10).sum())
    assert programme.enrol(stays, "lace", 1000, 10, seed=0).sum() == qualifying


def test_avoided_draws_centre_on_the_truths_expectation_with_its_spread():
    risk = np.random.default_rng(3).beta(1.2, 8, 2000)
    draws = programme.avoided_draws(risk, 0.25, 4000, seed=4)
    chance = 0.25 * risk
    assert draws.mean() == pytest.approx(chance.sum(), abs=4 * np.sqrt(chance.sum() / 4000))
    assert draws.var() == pytest.approx((chance * (1 - chance)).sum(), rel=0.1)


def test_the_ratio_falls_by_the_share_of_the_cohorts_true_risk_enrolled():
    stays = pd.DataFrame(
        {"encounter_key": ["a", "b", "c", "d"], programme.TRUE_RISK: [0.4, 0.1, 0.3, 0.2]}
    )
    index = pd.DataFrame(
        {
            "condition": ["heart_failure"] * 3 + ["copd"],
            "facility_id": [1, 1, 1, 2],
            "encounter_key": ["a", "b", "c", "d"],
        }
    )
    enrolled = np.array([True, False, False, False])
    factors = programme.ratio_factors(stays, enrolled, index, effect=0.5)
    assert factors == {
        ("heart_failure", 1): pytest.approx(1 - 0.5 * 0.4 / 0.8),
        ("copd", 2): pytest.approx(1.0),
    }


@pytest.fixture(scope="module")
def penalty(small_world_dir, small_etl, small_settings) -> programme.Penalty:
    rules = small_settings.finance.readmission_penalty
    records = readmissions.load_records(small_world_dir / "clean", small_settings)
    ratios = readmissions.excess_readmission_ratios(records.index, rules)
    return programme.Penalty(records, ratios, rules)


def test_the_penalty_falls_only_when_ratios_fall_and_never_below_nothing(penalty):
    point, draws = penalty.fall_usd({})
    assert point == 0.0
    assert (draws == 0.0).all()
    everything = {key: 0.5 for key in penalty.ratios.draws}
    point, draws = penalty.fall_usd(everything)
    current = readmissions.penalties(penalty.ratios, penalty.records, penalty.rules)
    assert 0.0 <= point <= current["penalty_usd"].sum() + 1e-6
    assert (draws >= -1e-6).all()
    # Halving every ratio takes every facility under 1: the whole penalty goes.
    assert point == pytest.approx(current["penalty_usd"].sum())


def test_targeting_by_risk_avoids_more_than_at_random_and_the_truth_most(penalty):
    stays = _stays(200, 6, seed=5)
    prices = programme.Prices(cost_usd=15_000, payment_usd=14_000)
    table = programme.evaluate(stays, CARE, prices, penalty, months=6).set_index(
        ["capacity_per_month", "rule"]
    )
    for capacity in CARE.capacities_per_month:
        by_risk = table.loc[(capacity, "champion")]
        at_random = table.loc[(capacity, "random")]
        assert by_risk["readmissions_avoided"] > at_random["readmissions_avoided_high"]
        for name in ("readmissions_avoided", "reduction", "costs_avoided_usd", "net_usd"):
            assert by_risk[f"{name}_low"] <= by_risk[name] <= by_risk[f"{name}_high"]
        enrolled = by_risk["enrolled_per_month"] * 6
        assert by_risk["programme_cost_usd"] == pytest.approx(enrolled * 400 * 2)  # a year
        assert by_risk["net_usd"] == pytest.approx(
            by_risk["costs_avoided_usd"]
            + by_risk["penalty_fall_usd"]
            - by_risk["programme_cost_usd"]
        )
    oracle = stays.assign(**{RISK: stays[programme.TRUE_RISK]})
    best = programme.evaluate(oracle, CARE, prices, penalty, months=6).set_index(
        ["capacity_per_month", "rule"]
    )
    for capacity in CARE.capacities_per_month:
        truth = best.loc[(capacity, "champion"), "readmissions_avoided"]
        assert truth >= table.loc[(capacity, "champion"), "readmissions_avoided"]
        # The effect times the enrolled patients' true risks, a year.
        enrolled = programme.enrol(oracle, "champion", capacity, 10, CARE.seed)
        expected = 0.25 * stays.loc[enrolled, programme.TRUE_RISK].sum() * 2
        assert truth == pytest.approx(expected)


def test_the_claims_are_met_where_the_curve_reaches_them():
    curve = pd.DataFrame(
        {
            "rule": ["champion"] * 3 + ["lace"] * 3,
            "capacity_per_month": [100, 200, 300] * 2,
            "reduction": [0.08, 0.16, 0.2, 0.05, 0.09, 0.09],
            "net_usd": [1.5e6, 2.5e6, 2.2e6, 1.0e6, 1.4e6, 1.4e6],
            "share_of_risk": [0.32, 0.64, 0.8, 0.2, 0.36, 0.36],
        }
    )
    claims = programme.seed_claims(
        curve, SeedClaims(readmission_reduction=0.15, annual_savings_usd=2e6), effect=0.25
    ).set_index("rule")
    assert claims.loc["champion", "capacity_for_reduction"] == 200
    assert claims.loc["champion", "best_net_capacity"] == 200
    assert claims.loc["champion", "reaches_savings"]
    assert claims.loc["champion", "effect_for_reduction_at_best"] == pytest.approx(0.15 / 0.64)
    assert pd.isna(claims.loc["lace", "capacity_for_reduction"])
    assert not claims.loc["lace", "reaches_savings"]


POLICY = RapidResponse(news2_thresholds=[5], window_hours=24, lead_hours=1, shift_hours=12)


def _ward() -> rapid_response.Ward:
    """Two patients: ``a`` alerted three times in one day shift and deteriorating at 20:00;
    ``b`` never alerted by NEWS2, deteriorating 30 minutes after its only high risk."""
    at = pd.to_datetime(
        ["2025-01-01 08:00", "2025-01-01 12:00", "2025-01-01 18:00", "2025-01-02 09:30"]
    )
    rows = pd.DataFrame(
        {
            "encounter_key": ["a", "a", "a", "b"],
            "prediction_time": at,
            rapid_response.NEWS2: [6, 7, 5, 2],
            RISK: [0.05, 0.2, 0.1, 0.5],
        }
    )
    encounters = pd.DataFrame(
        {
            "encounter_key": ["a", "b"],
            "ward_unit": ["medicine", "medicine"],
            "deterioration_at": pd.to_datetime(["2025-01-01 20:00", "2025-01-02 10:00"]),
            "deterioration_event": ["icu_transfer", "rapid_response"],
        }
    )
    staffing = pd.DataFrame(
        {
            "unit": ["medicine", "medicine", "icu"],
            "shift_start": pd.to_datetime(
                ["2025-01-01 07:00", "2025-01-01 19:00", "2025-01-01 07:00"]
            ),
            "worked_rn": [4, 4, 10],
        }
    )
    return rapid_response.ward(rows, encounters, staffing, POLICY, pd.Timestamp("2025-01-01"))


def test_shifts_turn_at_seven():
    times = pd.Series(pd.to_datetime(["2025-01-01 06:59", "2025-01-01 07:00", "2025-01-01 19:00"]))
    shifts = rapid_response.shift_of(times, 12)
    assert shifts[1] == shifts[0] + 1
    assert shifts[2] == shifts[1] + 1


def test_a_patient_alerted_again_in_one_shift_is_one_alert_and_late_alerts_catch_nothing():
    ward = _ward()
    assert ward.nurse_shifts == 8  # the ward unit's nurses, not the ICU's
    news2 = rapid_response.judge(ward, rapid_response.NEWS2, 5)
    assert news2["alerts"] == 1
    assert news2["caught_early"] == 1  # a, from 08:00; b's NEWS2 never reached 5
    assert news2["alerts_per_nurse_shift"] == pytest.approx(1 / 8)
    champion = rapid_response.judge(ward, RISK, 0.15)
    assert champion["alerts"] == 2  # a at 12:00, b at 09:30 ...
    assert champion["caught_early"] == 1  # ... but b's came 30 minutes before: not early


def test_the_champions_matched_thresholds_give_the_same_workload_and_catch():
    ward = _ward()
    table = rapid_response.compare(ward, POLICY).set_index("rule")
    news2 = table.loc["NEWS2 >= 5"]
    assert table.loc["champion, at most as many alerts as NEWS2 >= 5", "alerts"] == news2["alerts"]
    assert (
        table.loc["champion, at least as many caught as NEWS2 >= 5", "caught_early"]
        == news2["caught_early"]
    )


@pytest.fixture(scope="module")
def prospective(trained, small_prospective):
    """The trained models' settings, the small world's prospective period made beside them."""
    settings, _ = trained
    return settings


def test_the_programme_on_the_prospective_period_against_its_truth(prospective, small_world_dir):
    stays, prices, penalty = programme.load(prospective, small_world_dir)
    assert stays["prediction_time"].min() >= pd.Timestamp(prospective.data_gen.end_date)
    # The world's oracle is calibrated: its risks add up to the readmissions the period saw.
    observed, expected = stays[programme.LABEL].sum(), stays[programme.TRUE_RISK].sum()
    assert observed == pytest.approx(expected, abs=4 * np.sqrt(expected))
    assert 5_000 < prices.cost_usd < 40_000
    # A fifth of the small world's discharges a month: the rules' choices differ.
    monthly = int(stays["prediction_time"].dt.to_period("M").value_counts().median())
    care = prospective.decisions.transitional_care.model_copy(
        update={"capacities_per_month": [monthly // 5]}
    )
    table = programme.evaluate(stays, care, prices, penalty, months=24).set_index("rule")
    assert set(table.index) == set(programme.RULES)
    assert (
        table.loc["champion", "readmissions_avoided"] > table.loc["random", "readmissions_avoided"]
    )


def test_the_rapid_response_policy_on_the_prospective_period(prospective, small_world_dir):
    ward = rapid_response.load(prospective, small_world_dir)
    table = rapid_response.compare(ward, prospective.decisions.rapid_response).set_index("rule")
    five, seven = table.loc["NEWS2 >= 5"], table.loc["NEWS2 >= 7"]
    assert five["alerts"] > seven["alerts"]
    assert five["caught_early"] >= seven["caught_early"]
    assert 0 < five["alerts_per_nurse_shift"] < 5


def test_the_commands_say_what_is_missing(tmp_path):
    result = CliRunner().invoke(
        app, ["programme", "--profile", "small", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "make decisions" in result.output


@pytest.mark.parametrize(
    ("interval", "goal", "verdict"),
    [((0.96, 0.99), 0.95, "met"), ((0.86, 0.93), 0.95, "missed"), ((0.9, 0.97), 0.95, "undecided"),
     ((0.7, 0.8), None, "no goal")],
)  # fmt: skip
def test_a_goal_is_met_only_when_the_whole_interval_passes_it(interval, goal, verdict):
    performance = evaluate.Performance({}, {}, "auroc", sum(interval) / 2, interval)
    result = validation.Validation(
        "readmission", 100, "2025-01-01", "2027-12-31", performance, {}, pd.DataFrame()
    )
    assert result.goal(goal) == {"goal": goal, "verdict": verdict}


def test_the_prospective_validation_is_logged_on_each_champions_run(prospective, small_world_dir):
    for task in ("readmission", "los"):
        rows, fit_rows = validation.load(prospective, task, small_world_dir)
        result = validation.validate(prospective, task, rows, fit_rows)
        run_id = validation.log_to_champion(prospective, result)
        logged = MlflowClient().get_run(run_id).data.metrics
        summary = validation.summary_row(result, prospective)
        metric = prospective.tasks[task].metric
        assert logged[registry.prospective_metric(metric)] == pytest.approx(summary["value"])
        assert logged[registry.prospective_metric(metric, "low")] <= summary["value"]
        share = registry.prospective_metric(registry.ceiling_fraction(summary["lift"]))
        assert logged[f"{share}_low"] <= logged[share] <= logged[f"{share}_high"]
        assert logged[registry.prospective_metric("rows")] == len(rows)
        # The test split's figures stay beside them, untouched.
        assert registry.metric_on_test(metric) in logged
    readmission = validation.validate(prospective, "readmission", *validation.load(
        prospective, "readmission", small_world_dir))  # fmt: skip
    assert readmission.curve is not None
    assert {"ici", "e90"} <= set(readmission.subgroups.columns)


FIGURE = re.compile(
    r"(-?[\d,]+\.\d+)(%?)(?: \(95% CI (-?[\d,.]+)%? to (-?[\d,.]+)%?\))? \[`(\w+)`\]"
)


def test_every_figure_of_the_tripod_report_is_the_metric_it_names(prospective, small_world_dir):
    rows, fit_rows = validation.load(prospective, "readmission", small_world_dir)
    validation.log_to_champion(prospective, validation.validate(prospective, "readmission", rows,
                                                                fit_rows))  # fmt: skip
    client = MlflowClient()
    record = tripod.run_record(client, prospective, "readmission")
    written = tripod.log_reports(client, record)
    logged = client.get_run(record.run_id).data.metrics
    checked = 0
    for text in written.values():
        for value, percent, low, high, name in FIGURE.findall(text):
            scale = 100 if percent else 1
            digits = len(value.split(".")[1])
            for shown, metric in ((value, name), (low, f"{name}_low"), (high, f"{name}_high")):
                if shown:
                    expected = round(logged[metric] * scale, digits)
                    assert float(shown.replace(",", "")) == pytest.approx(expected), metric
                    checked += 1
    assert checked >= 40
    report = written["tripod_ai"]
    for item in ("1", "5b", "10", "11", "12c", "18a", "23a", "23b", "26", "27c"):
        assert f"**{item}. " in report
    assert report.count(tripod.CANNOT_KNOW) == 5
    html = mlflow.artifacts.load_text(f"runs:/{record.run_id}/reports/tripod_ai.html")
    assert "<table>" in html
    assert "TRIPOD+AI report" in html


def test_leaving_each_facility_out_refits_without_it_and_judges_it_alone(
    prospective, small_world_dir
):
    rows = period_rows(prospective, "readmission", small_world_dir)
    clean = period_folder(prospective, small_world_dir) / "clean"
    table = transport.leave_one_facility_out(
        prospective, "readmission", small_world_dir, rows, clean
    ).set_index("facility_id")
    assert table["rows"].sum() == len(rows)
    assert set(table.index) == set(rows["facility_id"])
    largest = table["rows"].idxmax()
    mine = rows[rows["facility_id"] == largest]
    assert table.loc[largest, "champion_auroc"] == pytest.approx(
        evaluate.metric_value("auroc", mine["readmitted_30d"], mine[RISK])
    )
    assert 0.5 < table.loc[largest, "held_out_auroc"] < 1.0
    assert table.loc[largest, "held_out_observed"] == pytest.approx(mine["readmitted_30d"].mean())
    family, params = transport.champion_configuration(prospective, "readmission")
    assert family in prospective.tasks["readmission"].families
    assert all(not isinstance(value, str) for value in params.values())


def test_tied_risks_never_give_the_champion_more_alerts_than_news2():
    ward = _ward()
    tied = rapid_response.Ward(
        ward.observations.assign(**{RISK: 0.3}), ward.events.assign(**{RISK: 0.3}), 8.0
    )
    # Both patients tie at 0.3: no threshold raises exactly one alert, so none is raised.
    assert rapid_response.matched_threshold(tied, alerts=1) == float("inf")
    assert rapid_response.matched_threshold(tied, caught=1) == pytest.approx(0.3)
