"""Operations analytics: the census from the clean stays, and its forecast against
seasonal-naive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs import ConfigError, load_settings
from configs.operations import Staffing
from features import census
from operations import evaluation, forecast, journeys, staffing

T0 = pd.Timestamp("2024-03-04 07:00")  # a Monday's day shift


def _roster(units: list[tuple[int, str]], shifts: int = 6) -> pd.DataFrame:
    starts = pd.date_range(T0, periods=shifts, freq="12h")
    return pd.DataFrame(
        [
            {
                "facility_id": f,
                "unit": u,
                "shift_start": s,
                "shift": "day" if s.hour == 7 else "night",
            }
            for f, u in units
            for s in starts
        ]
    )


def _stay(**fields) -> dict:
    stay = {
        "facility_id": 1, "unit": "medicine", "ward_unit": "medicine", "admitted_at": T0,
        "discharged_at": T0 + pd.Timedelta(hours=36), "icu_days": 0.0,
        "deterioration_event": None, "deterioration_at": pd.NaT,
    }  # fmt: skip
    return stay | fields


def _census(stays: list[dict], roster: pd.DataFrame) -> pd.Series:
    frame = census.shift_census(pd.DataFrame(stays), roster)
    return frame.set_index(["unit", "shift_start"])["census"]


def test_a_transfer_counts_on_its_ward_then_the_icu_from_its_deterioration_for_its_icu_days():
    stay = _stay(
        ward_unit="cardiology", unit="cardiology", deterioration_event="icu_transfer",
        deterioration_at=T0 + pd.Timedelta(hours=6), icu_days=0.5,
    )  # fmt: skip
    counted = _census([stay], _roster([(1, "medicine"), (1, "cardiology"), (1, "icu")]))
    assert counted[("cardiology", T0)] == pytest.approx(0.5)  # 6 of the first 12 hours
    assert counted[("icu", T0)] == pytest.approx(0.5)  # 6 hours, then 6 into the night
    assert counted[("icu", T0 + pd.Timedelta(hours=12))] == pytest.approx(0.5)
    night = counted[("cardiology", T0 + pd.Timedelta(hours=12))]
    assert night == pytest.approx(0.5)  # back on the ward from hour 18
    assert counted.sum() == pytest.approx(3.0)  # 36 patient-hours over 12-hour shifts


def test_a_direct_icu_admission_counts_on_the_icu_then_on_its_ward_unit():
    stay = _stay(unit="icu", ward_unit="surgery", icu_days=1.0)
    counted = _census([stay], _roster([(1, "medicine"), (1, "surgery"), (1, "icu")]))
    assert counted.xs("icu").iloc[:2].tolist() == [1.0, 1.0]
    assert counted[("surgery", T0 + pd.Timedelta(hours=24))] == pytest.approx(1.0)
    assert counted.xs("icu").iloc[2:].sum() == 0


def test_the_patients_of_a_unit_the_facility_does_not_run_are_counted_on_medicine():
    counted = _census([_stay(ward_unit="oncology", unit="oncology")], _roster([(1, "medicine")]))
    assert counted.xs("medicine").sum() == pytest.approx(3.0)


def test_a_roster_with_a_missing_shift_is_refused_naming_where():
    roster = _roster([(1, "medicine")]).drop(index=2)
    with pytest.raises(census.CensusError, match="no shift at 2024-03-05 07:00"):
        census.shift_census(pd.DataFrame([_stay()]), roster)


def test_stays_at_a_facility_without_a_roster_are_refused():
    with pytest.raises(census.CensusError, match=r"does not staff: \[2\]"):
        census.shift_census(pd.DataFrame([_stay(facility_id=2)]), _roster([(1, "medicine")]))


def test_the_census_from_the_clean_stays_matches_the_census_the_world_staffed(
    small_clean, small_world
):
    counted = census.shift_census(small_clean["encounters"], small_clean["nurse_staffing"])
    truth = small_world["oracle_staffing"]
    both = counted.merge(truth, on=["facility_id", "unit", "shift_start"], suffixes=("", "_true"))
    assert len(both) == len(truth)
    # The world staffed the census of its first pass; short staffing then moved a few stays.
    gap = (both["census"] - both["census_true"]).abs().sum() / both["census_true"].sum()
    assert gap < 0.01


def _weekly_series(days: int, seed: int) -> pd.Series:
    """A census-like series: a weekday pattern, a winter peak and AR(1) drift."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=days, freq="D")
    drift = np.zeros(days)
    for t in range(1, days):
        drift[t] = 0.8 * drift[t - 1] + rng.normal(0, 1.0)
    weekday = np.array([3.0, 2.0, 1.0, 0.5, 0.0, -3.0, -3.5])[dates.dayofweek]
    winter = 3.0 * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 15) / 365.25)
    return pd.Series(30 + weekday + winter + drift, index=dates)


def test_the_forecast_beats_seasonal_naive_with_intervals_that_cover_as_stated():
    series = _weekly_series(600, seed=3)
    origin = series.index[420]
    runs = forecast.backtest(series, origin, every_days=3, horizon=14)
    table = forecast.scores(runs, series[series.index < origin])
    assert (table.loc[[1, 7, 14], "mase"] < 1).all()
    assert (table["mase"] < table["naive_mase"]).all()
    assert 0.7 <= table["coverage_80%"].mean() <= 0.9
    assert table["coverage_95%"].mean() >= 0.88


def test_a_census_with_a_missing_day_is_refused_naming_the_gap():
    series = _weekly_series(120, seed=1).drop(pd.Timestamp("2023-03-15"))
    with pytest.raises(forecast.ForecastError, match="gap or repeat before 2023-03-16"):
        forecast.forecast(series, 14)


def test_a_census_too_short_to_forecast_is_refused():
    with pytest.raises(forecast.ForecastError, match="30 days of census are too few"):
        forecast.forecast(_weekly_series(30, seed=1), 14)


def _staffing_config(**changes) -> Staffing:
    return load_settings("small").operations.staffing.model_copy(update=changes)


def _targets(census_by_unit: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "unit": unit,
                "shift_start": T0 + pd.Timedelta(hours=12 * s),
                "shift": "day" if s % 2 == 0 else "night",
                "census": value,
                "census_mean": value,
                "census_sd": 0.0,
            }
            for unit, values in census_by_unit.items()
            for s, value in enumerate(values)
        ]
    )


def _usual(usual_by_unit: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"facility_id": 1, "unit": unit, "shift": shift, "usual_rn": value}
            for unit, value in usual_by_unit.items()
            for shift in ("day", "night")
        ]
    )


def test_the_plan_covers_the_planned_census_with_staff_first_then_floats_then_agency():
    targets = _targets(
        {"medicine": [20, 31, 20, 20], "surgery": [5, 5, 5, 12], "icu": [4, 4, 7, 4]}
    )
    usual = _usual({"medicine": 4, "surgery": 2, "icu": 2})
    config = _staffing_config(extra_staff_share=0.0, overtime_share=0.0)
    plan = staffing.solve(1, targets, usual, config).nurses.set_index(["unit", "shift_start"])
    assert (plan["planned_rn"] >= plan["needed_rn"] - 1e-9).all()
    assert (plan["unsafe_chance"] == 0).all()  # a certain census, covered
    assert plan.loc[("medicine", T0 + pd.Timedelta(hours=12)), "usual_unsafe_chance"] == 1
    quiet = plan.xs(T0, level="shift_start")
    assert quiet.loc["medicine", "staff_rn"] == 4  # 20 patients at 1:5
    assert quiet.loc["surgery", "staff_rn"] == 1  # 5 patients need one of its two
    busy = plan.xs(T0 + pd.Timedelta(hours=12), level="shift_start")
    assert busy.loc["medicine", "float_in_rn"] == 1  # 31 patients: surgery's spare nurse floats
    assert busy.loc["medicine", "agency_rn"] == 2  # the sixth and seventh come from an agency
    icu = plan.xs("icu")
    assert icu["float_in_rn"].sum() == 0  # no floats into the ICU: its fourth nurse is agency
    assert icu["agency_rn"].iloc[2] == 2
    rates = config.hourly_usd
    paid = {"staff": "staff_rn", "float": "float_in_rn", "overtime": "overtime_rn",
            "agency": "agency_rn"}  # fmt: skip
    expected = 12 * sum(rates[kind] * plan[column].sum() for kind, column in paid.items())
    assert plan["cost_usd"].sum() == pytest.approx(expected)


def test_a_shifts_chance_of_running_beyond_its_ratio_is_the_forecasts_tail_beyond_its_nurses():
    rng = np.random.default_rng(3)
    for mean, sd, capacity in [(20.0, 3.0, 20.0), (20.0, 3.0, 25.0), (6.0, 1.5, 4.0)]:
        simulated = (rng.normal(mean, sd, 400_000) > capacity).mean()
        assert staffing.unsafe_chance(mean, sd, capacity) == pytest.approx(simulated, abs=0.005)
    assert staffing.unsafe_chance(31.0, 0.0, 30.0) == 1.0  # a certain census
    assert staffing.unsafe_chance(29.0, 0.0, 30.0) == 0.0


def test_a_plan_for_a_unit_the_facility_does_not_run_is_refused():
    with pytest.raises(staffing.PlanError, match=r"runs no unit \['oncology'\]"):
        staffing.solve(
            1, _targets({"oncology": [3, 3]}), _usual({"medicine": 4}), _staffing_config()
        )


def test_a_plan_for_a_census_with_gaps_is_refused():
    targets = _targets({"medicine": [20, 20], "surgery": [5, 5]}).drop(index=3)
    with pytest.raises(staffing.PlanError, match="gaps"):
        staffing.solve(1, targets, _usual({"medicine": 4, "surgery": 2}), _staffing_config())


def test_a_plan_for_an_unknown_facility_is_refused(small_clean):
    roster = small_clean["nurse_staffing"]
    by_shift = census.shift_census(small_clean["encounters"], roster)
    config = load_settings("small").operations
    with pytest.raises(staffing.PlanError, match="no facility 99"):
        staffing.plan_facility(by_shift, roster, 99, pd.Timestamp("2024-06-03"), config)


def test_an_impossible_ratio_target_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"safe_patients_per_nurse\.icu"):
        load_settings("small", ["operations.staffing.safe_patients_per_nurse.icu=0.5"])


def test_the_plans_judged_in_the_world_cover_every_test_shift(small_world_dir, small_clean):
    roster = small_clean["nurse_staffing"]
    by_shift = census.shift_census(small_clean["encounters"], roster)
    config = load_settings("small", ["operations.forecast.test_weeks=3"]).operations
    plans, seconds = evaluation.weekly_plans(by_shift, roster, config)
    oracle = pd.read_parquet(small_world_dir / "oracle" / "staffing.parquet")
    world = evaluation.world_staffing(small_world_dir)
    table = evaluation.judge(plans, by_shift, roster, oracle, world, config).set_index("facility")
    units = roster[["facility_id", "unit"]].drop_duplicates()
    assert table.loc["all", "shifts"] == len(units) * 3 * 7 * 2
    assert len(seconds) == 3 * roster["facility_id"].nunique()
    weeks = roster["shift_start"].isin(plans["shift_start"])
    assert table.loc["all", "roster_cost_usd"] == pytest.approx(roster.loc[weeks, "cost_usd"].sum())
    for name in ("plan_unsafe_shifts", "plan_cost_usd", "events_avoided"):
        assert (table[f"{name}_low"] <= table[name]).all()
        assert (table[name] <= table[f"{name}_high"]).all()


def test_the_cli_plans_a_facility_and_names_what_is_wrong(small_world_dir, small_etl, tmp_path):
    from typer.testing import CliRunner

    from operations.__main__ import app

    common = ["--profile", "small", "--data-dir", str(small_world_dir)]
    reports = [f"operations.tables_dir={tmp_path}"]
    planned = CliRunner().invoke(
        app, ["plan", "--facility", "1", "--start", "2024-06-03", *common, *reports]
    )
    assert planned.exit_code == 0, planned.output
    shifts = pd.read_csv(tmp_path / "plans" / "facility-1-2024-06-03" / "shifts.csv")
    assert len(shifts) == shifts["unit"].nunique() * 14 * 2
    unknown = CliRunner().invoke(
        app, ["plan", "--facility", "42", "--start", "2024-06-03", *common]
    )
    assert unknown.exit_code == 1
    assert "no facility 42" in unknown.output
    bad_day = CliRunner().invoke(app, ["plan", "--facility", "1", "--start", "June", *common])
    assert bad_day.exit_code == 2
    assert "not a date" in bad_day.output


def test_journeys_follow_every_stay_through_each_stage_once(small_clean):
    by_stay = journeys.stages(small_clean["encounters"])
    flows = journeys.links(by_stay)
    stage_of = flows["source"].str.split(":").str[0]
    per_pair = flows.groupby(stage_of)["stays"].sum()
    for stage in ("entry", "ward", "icu"):
        assert per_pair[stage] == len(by_stay)  # every stay passes each of these stages
    assert per_pair["discharge"] == (by_stay["readmission"] != "").sum()  # index stays only
    assert journeys.paths(by_stay)["stays"].sum() == len(by_stay)
    assert (
        not by_stay["discharge"]
        .eq("expired")
        .pipe(lambda dead: by_stay.loc[dead, "readmission"] != "")
        .any()
    )


def test_a_transferred_patient_readmitted_within_a_month_takes_that_path():
    t0 = pd.Timestamp("2024-01-10 10:00")
    stays = pd.DataFrame(
        [
            _stay(patient_key="p", admitted_at=t0, discharged_at=t0 + pd.Timedelta(days=4),
                  admission_type="emergency", admission_source="emergency_department",
                  ward_unit="cardiology", unit="cardiology", deterioration_event="icu_transfer",
                  deterioration_at=t0 + pd.Timedelta(days=1), icu_days=1.5,
                  discharge_disposition="home"),
            _stay(patient_key="p", admitted_at=t0 + pd.Timedelta(days=20),
                  discharged_at=t0 + pd.Timedelta(days=22), admission_type="emergency",
                  admission_source="emergency_department", discharge_disposition="home"),
            _stay(patient_key="q", admitted_at=t0 + pd.Timedelta(days=90),
                  discharged_at=t0 + pd.Timedelta(days=91), admission_type="elective",
                  admission_source="physician_referral", discharge_disposition="home"),
        ]
    )  # fmt: skip
    first = journeys.stages(stays).iloc[0]
    assert tuple(first[list(journeys.STAGES)]) == (
        "emergency department", "cardiology", "ICU", "home", "readmitted within 30 d",
    )  # fmt: skip
    assert first["icu_days"] == 1.5
    assert first["ward_days"] == pytest.approx(2.5)
