"""Operations analytics: the census from the clean stays, and its forecast against
seasonal-naive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from operations import census, forecast

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
