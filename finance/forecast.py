"""Monthly revenue, cost and margin by facility: forecasts with intervals, and their backtest.

The model (statsmodels SARIMAX) is a level with an annual cycle (one sine and one cosine of the
month) and AR(1) errors: the winter respiratory peak repeats, and two years of records are too
few for a seasonal model with twelve free monthly effects. It is fitted on the series over its
mean absolute value, so that revenue in millions and a margin near zero fit alike. The benchmark
is seasonal-naive: the same month a year before. The backtest refits at every origin of the
records' second year and scores each horizon, 1 to ``months_ahead`` months, by its mean absolute
error against seasonal-naive's and the share of actuals inside the interval.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from configs.finance import RevenueForecast
from finance import FinanceError

MEASURES = ("revenue_usd", "cost_usd", "margin_usd")
SEASON_MONTHS = 12
ALL_FACILITIES = "all"


class ForecastError(FinanceError):
    """A monthly series that cannot be forecast (too short, with gaps, or not monthly)."""


def monthly_finance(
    encounters: pd.DataFrame, claims: pd.DataFrame, facilities: pd.DataFrame, warmup_months: int
) -> pd.DataFrame:
    """Revenue (what was paid), cost and margin by facility (and ``all``) and month of discharge,
    over the months whose discharges the records hold whole, less the first ``warmup_months``."""
    stays = encounters[["encounter_key", "facility_id", "discharged_at", "total_cost_usd"]].merge(
        claims[["encounter_key", "paid_usd"]], on="encounter_key", validate="one_to_one"
    )
    if stays.empty:
        raise ForecastError("no stays with a claim: nothing to forecast")
    data_end = encounters["admitted_at"].max()
    month = stays["discharged_at"].dt.to_period("M").dt.to_timestamp()
    whole = month + pd.DateOffset(months=1) <= data_end.ceil("D")
    first = month.min() + pd.DateOffset(months=warmup_months)
    stays = stays[whole & (month >= first)].assign(month=month)
    names = facilities.set_index("facility_id")["name"]
    stays["facility"] = stays["facility_id"].map(names)
    parts = [stays, stays.assign(facility=ALL_FACILITIES)]
    table = (
        pd.concat(parts)
        .groupby(["facility", "month"])
        .agg(revenue_usd=("paid_usd", "sum"), cost_usd=("total_cost_usd", "sum"))
        .reset_index()
    )
    table["margin_usd"] = table["revenue_usd"] - table["cost_usd"]
    return table


def load_monthly(clean_dir: Path, config: RevenueForecast) -> pd.DataFrame:
    """``monthly_finance`` of the clean tables in ``clean_dir`` (data/clean)."""
    tables = ("encounters", "claims", "facilities")
    if missing := [t for t in tables if not (clean_dir / f"{t}.parquet").exists()]:
        raise FileNotFoundError(
            f"no clean {', '.join(missing)} in {clean_dir}: run `make etl` first"
        )
    columns = ["encounter_key", "facility_id", "admitted_at", "discharged_at", "total_cost_usd"]
    return monthly_finance(
        pd.read_parquet(clean_dir / "encounters.parquet", columns=columns),
        pd.read_parquet(clean_dir / "claims.parquet", columns=["encounter_key", "paid_usd"]),
        pd.read_parquet(clean_dir / "facilities.parquet"),
        config.warmup_months,
    )


def backtest_facilities(monthly: pd.DataFrame, config: RevenueForecast) -> pd.DataFrame:
    """``backtest`` of every measure of every facility's (and the system's) monthly series."""
    runs = []
    for (facility, measure), series in _series(monthly):
        run = backtest(series, config.months_ahead, config.coverage, config.min_history_months)
        runs.append(run.assign(facility=facility, measure=measure))
    return pd.concat(runs, ignore_index=True)


def forecast_facilities(monthly: pd.DataFrame, config: RevenueForecast) -> pd.DataFrame:
    """The ``months_ahead`` months after the records, for every measure and facility."""
    ahead = [
        forecast(series, config.months_ahead, config.coverage).assign(
            facility=facility, measure=measure
        )
        for (facility, measure), series in _series(monthly)
    ]
    return pd.concat(ahead, ignore_index=True)


def _series(monthly: pd.DataFrame):
    for facility, rows in monthly.groupby("facility", sort=True):
        for measure in MEASURES:
            yield (facility, measure), rows.set_index("month")[measure]


def _checked(series: pd.Series, minimum: int) -> pd.Series:
    series = series.sort_index().astype(float)
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ForecastError("the series must be indexed by month")
    expected = pd.date_range(series.index.min(), periods=len(series), freq="MS")
    if len(series) and not series.index.equals(expected):
        raise ForecastError("the series must hold consecutive months (first day of each)")
    if len(series) < minimum:
        raise ForecastError(f"{len(series)} months are too few to forecast (at least {minimum})")
    return series


def _cycle(months: pd.DatetimeIndex) -> np.ndarray:
    angle = 2 * np.pi * months.month.to_numpy() / SEASON_MONTHS
    return np.column_stack([np.sin(angle), np.cos(angle)])


def forecast(
    history: pd.Series, months_ahead: int, coverage: float, minimum_months: int = 8
) -> pd.DataFrame:
    """The ``months_ahead`` months after ``history`` (monthly, first days), with a ``coverage``
    prediction interval."""
    history = _checked(history, minimum_months)
    scale = float(history.abs().mean()) or 1.0
    ahead = pd.date_range(history.index[-1], periods=months_ahead + 1, freq="MS")[1:]
    model = sm.tsa.SARIMAX(
        (history / scale).to_numpy(), exog=_cycle(history.index), order=(1, 0, 0), trend="c"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = model.fit(disp=False)
    predicted = fit.get_forecast(months_ahead, exog=_cycle(ahead))
    interval = np.asarray(predicted.conf_int(alpha=1 - coverage))
    return pd.DataFrame(
        {
            "month": ahead,
            "forecast": np.asarray(predicted.predicted_mean) * scale,
            "low": interval[:, 0] * scale,
            "high": interval[:, 1] * scale,
        }
    )


def budget_forecast(monthly: pd.Series, months_ahead: int, coverage: float) -> pd.DataFrame:
    """Forecast the last ``months_ahead`` months of a monthly series from the months before, set
    against the actuals (the Costs and Finance pages' chart)."""
    series = _checked(monthly, months_ahead + 8)
    ahead = forecast(series.iloc[:-months_ahead], months_ahead, coverage)
    table = pd.DataFrame({"month": series.index, "actual": series.to_numpy()})
    table = table.merge(ahead, on="month", how="left")
    table["forecast_month"] = table["forecast"].notna()
    return table


def backtest(
    series: pd.Series, months_ahead: int, coverage: float, min_history_months: int
) -> pd.DataFrame:
    """One row per origin and horizon: the actual, the forecast with its interval, and
    seasonal-naive's forecast (the same month a year before), refitted at every origin."""
    series = _checked(series, max(min_history_months, SEASON_MONTHS) + 1)
    rows = []
    for origin in range(max(min_history_months, SEASON_MONTHS), len(series)):
        horizons = min(months_ahead, len(series) - origin)
        ahead = forecast(series.iloc[:origin], horizons, coverage)
        for h in range(horizons):
            month = series.index[origin + h]
            rows.append(
                {
                    "origin": series.index[origin],
                    "month": month,
                    "months_ahead": h + 1,
                    "actual": series.iloc[origin + h],
                    "forecast": ahead["forecast"].iloc[h],
                    "low": ahead["low"].iloc[h],
                    "high": ahead["high"].iloc[h],
                    "seasonal_naive": series.loc[month - pd.DateOffset(months=SEASON_MONTHS)],
                }
            )
    return pd.DataFrame(rows)


def backtest_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per measure (and any other label) and horizon: mean absolute error of the model and of
    seasonal-naive, their ratio, and the interval's coverage."""
    labels = [c for c in ("measure", "facility") if c in runs.columns]
    runs = runs.assign(
        error=(runs["forecast"] - runs["actual"]).abs(),
        naive_error=(runs["seasonal_naive"] - runs["actual"]).abs(),
        covered=runs["actual"].between(runs["low"], runs["high"]),
    )
    summary = (
        runs.groupby([*labels, "months_ahead"])
        .agg(
            forecasts=("error", "size"),
            mae_usd=("error", "mean"),
            seasonal_naive_mae_usd=("naive_error", "mean"),
            coverage=("covered", "mean"),
        )
        .reset_index()
    )
    summary["mae_ratio"] = summary["mae_usd"] / summary["seasonal_naive_mae_usd"]
    return summary
