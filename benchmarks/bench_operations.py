"""Operations benchmark: the census forecast against seasonal-naive, the staffing plan's solver,
and the plans against the hospital's roster at several census quantiles, side by side in one run.

    python -m benchmarks.bench_operations [--quantile 0.5 --quantile 0.8 ...]   # after make etl

Goals: MASE below 1 at 1, 7 and 14 days, the 80% intervals covering 75-85% of the actual census;
the plans with fewer unsafe shifts than the roster at no more than its cost (the quantile sets the
trade-off between the two).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import write_results
from configs import load_settings
from features import census
from operations import evaluation, forecast, staffing

console = Console()


def main(
    quantile: Annotated[
        list[float] | None, typer.Option(help="census quantiles to plan for")
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="folder holding clean/ and oracle/")] = Path(
        "data"
    ),
) -> None:
    settings = load_settings()
    config = settings.operations
    roster = pd.read_parquet(data_dir / "clean" / "nurse_staffing.parquet")
    stays = pd.read_parquet(data_dir / "clean" / "encounters.parquet", columns=census.STAY_COLUMNS)
    oracle = pd.read_parquet(data_dir / "oracle" / "staffing.parquet")
    world = evaluation.world_staffing(data_dir)
    started = time.perf_counter()
    by_shift = census.shift_census(stays, roster)
    census_seconds = time.perf_counter() - started
    started = time.perf_counter()
    first = evaluation.test_weeks(roster, config.forecast.test_weeks)[0]
    daily = census.whole_days(census.daily_census(by_shift), roster, config.forecast.warmup_days)
    _, by_unit, _ = forecast.backtest_units(daily, first, config.forecast.horizon_days)
    scores = forecast.mean_over_units(by_unit)
    forecast_seconds = time.perf_counter() - started
    monday = evaluation.test_weeks(roster, config.forecast.test_weeks)[-1]
    solves = {
        int(f): staffing.plan_facility(by_shift, roster, f, monday, config).solve_seconds
        for f in sorted(roster["facility_id"].unique())
    }
    frontier = {}
    for q in quantile or [0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]:
        trial = config.with_census_quantile(q)
        plans, _ = evaluation.weekly_plans(by_shift, roster, trial)
        frontier[q] = evaluation.judge(plans, by_shift, roster, oracle, world, trial).iloc[0]
    results = {
        "profile": settings.profile,
        "census_seconds": census_seconds,
        "forecast_backtest_seconds": forecast_seconds,
        "forecast": scores.loc[[1, 7, config.forecast.horizon_days]].to_dict(orient="index"),
        "solve_seconds_by_facility": solves,
        "solve_seconds_all_facilities": sum(solves.values()),
        "plans_by_quantile": {str(q): row.to_dict() for q, row in frontier.items()},
    }
    path = write_results("operations", results)
    table = Table(title=f"Census forecast backtest ({settings.profile} profile)")
    for column in ("days ahead", "MASE", "naive MASE", "80% covered", "95% covered"):
        table.add_column(column, justify="right")
    for horizon, row in results["forecast"].items():
        table.add_row(
            str(horizon), f"{row['mase']:.2f}", f"{row['naive_mase']:.2f}",
            f"{row['coverage_80%']:.0%}", f"{row['coverage_95%']:.0%}",
        )  # fmt: skip
    console.print(table)
    table = Table(title=f"Weekly plans against the roster, {config.forecast.test_weeks} test weeks")
    for column in ("quantile", "unsafe: roster", "plan", "cost: roster", "plan", "events avoided"):
        table.add_column(column, justify="right")
    for q, row in frontier.items():
        table.add_row(
            f"{q:.2f}", f"{row['roster_unsafe_shifts']}",
            evaluation.with_interval(row, "plan_unsafe_shifts", "{:.0f}"),
            f"${row['roster_cost_usd'] / 1e6:.2f}M", f"${row['plan_cost_usd'] / 1e6:.2f}M",
            evaluation.with_interval(row, "events_avoided", "{:.1f}"),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"solver: {max(solves.values()):.2f} s for the largest facility's 14-day plan, "
        f"{sum(solves.values()):.2f} s for all {len(solves)}; census {census_seconds:.1f} s, "
        f"forecast backtest {forecast_seconds:.1f} s; {path}"
    )


if __name__ == "__main__":
    typer.run(main)
