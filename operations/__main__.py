"""``python -m operations``: the census forecast and its backtest, the nurse staffing plan, and the
plans judged in the world over the test weeks."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from configs import cli, load_settings_or_exit
from features import census
from features.io import atomic_folder
from operations import evaluation, forecast, staffing

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding clean/ and oracle/")]
FAILURES = (census.CensusError, forecast.ForecastError, staffing.PlanError, FileNotFoundError)


@app.callback()
def main() -> None:
    """Operations: census forecasts, nurse staffing plans and their evaluation."""


def _records(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roster and the census by shift from the clean tables."""
    clean = data_dir / "clean"
    for table in ("encounters", "nurse_staffing"):
        if not (clean / f"{table}.parquet").exists():
            raise FileNotFoundError(f"no clean {table} table in {clean}: run `make etl` first")
    roster = pd.read_parquet(clean / "nurse_staffing.parquet")
    stays = pd.read_parquet(clean / "encounters.parquet", columns=census.STAY_COLUMNS)
    return roster, census.shift_census(stays, roster)


@app.command("forecast")
def forecast_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Backtest the daily census forecast of every facility and unit over the test weeks against
    seasonal-naive, and forecast the days after the records; tables in reports/operations/."""
    config = load_settings_or_exit(profile, overrides).operations
    try:
        roster, by_shift = _records(data_dir)
        first = evaluation.test_weeks(roster, config.forecast.test_weeks)[0]
        daily = census.whole_days(
            census.daily_census(by_shift), roster, config.forecast.warmup_days
        )
        runs, by_unit, ahead = forecast.backtest_units(daily, first, config.forecast.horizon_days)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    scores = forecast.mean_over_units(by_unit)
    units = by_unit.groupby(["facility_id", "unit"]).ngroups
    with atomic_folder(Path(config.tables_dir) / "forecast") as folder:
        runs.to_csv(folder / "backtest.csv", index=False)
        by_unit.to_csv(folder / "scores_by_unit.csv")
        ahead.to_csv(folder / "forecast.csv", index=False)
    table = Table(
        title=f"Census forecast backtest: {len(runs):,} forecasts of {units} units from weekly "
        "origins (mean over units)"
    )
    for column in ("days ahead", "MASE", "seasonal-naive MASE", "80% covered", "95% covered"):
        table.add_column(column, justify="right")
    for horizon_days in sorted({1, 7, config.forecast.horizon_days}):
        row = scores.loc[horizon_days]
        table.add_row(
            str(horizon_days), f"{row['mase']:.2f}", f"{row['naive_mase']:.2f}",
            f"{row['coverage_80%']:.0%}", f"{row['coverage_95%']:.0%}",
        )  # fmt: skip
    console.print(table)
    console.print(f"tables in {config.tables_dir}/forecast/")


@app.command("plan")
def plan_command(
    facility: Annotated[int, typer.Option(help="facility_id of the facility to plan")],
    start: Annotated[str, typer.Option(help="first day of the plan, YYYY-MM-DD")],
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """One facility's least-cost nurse staffing plan for the days from START, from the records
    before it (a mixed-integer programme, HiGHS)."""
    config = load_settings_or_exit(profile, overrides).operations
    try:
        day = pd.Timestamp(date.fromisoformat(start))
    except ValueError:
        errors.print(f"[red]--start {start!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None
    try:
        roster, by_shift = _records(data_dir)
        plan = staffing.plan_facility(by_shift, roster, facility, day, config)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    target = Path(config.tables_dir) / "plans" / f"facility-{facility}-{day:%Y-%m-%d}"
    with atomic_folder(target) as folder:
        plan.nurses.to_csv(folder / "shifts.csv", index=False)
    by_unit = plan.nurses.groupby("unit")[
        ["needed_rn", "staff_rn", "float_in_rn", "overtime_rn", "agency_rn", "cost_usd"]
    ].sum()
    table = Table(
        title=f"Facility {facility}: {config.forecast.horizon_days} days from {day:%Y-%m-%d}"
    )
    for column in (
        "unit",
        "nurse shifts needed",
        "staff",
        "floats in",
        "overtime",
        "agency",
        "cost",
    ):
        table.add_column(column, justify="left" if column == "unit" else "right")
    for unit, row in by_unit.iterrows():
        table.add_row(
            unit, f"{row['needed_rn']:.1f}", f"{row['staff_rn']:.0f}", f"{row['float_in_rn']:.0f}",
            f"{row['overtime_rn']:.0f}", f"{row['agency_rn']:.0f}", f"${row['cost_usd']:,.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"${plan.cost_usd:,.0f} in all; solved in {plan.solve_seconds:.2f} s; "
        f"shift by shift in {target}/shifts.csv"
    )


@app.command("evaluate")
def evaluate_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Every facility's weekly plan over the test weeks, worked in the world beside the
    hospital's own roster: unsafe shifts, cost, and the deteriorations and deaths each caused."""
    config = load_settings_or_exit(profile, overrides).operations
    try:
        roster, by_shift = _records(data_dir)
        truth = data_dir / "oracle" / "staffing.parquet"
        if not truth.exists():
            raise FileNotFoundError(f"no {truth}: run `make data` first")
        plans, seconds = evaluation.weekly_plans(by_shift, roster, config)
        judged = evaluation.judge(
            plans,
            by_shift,
            roster,
            pd.read_parquet(truth),
            evaluation.world_staffing(data_dir),
            config,
        )
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    with atomic_folder(Path(config.tables_dir) / "evaluation") as folder:
        plans.to_csv(folder / "plans.csv", index=False)
        judged.to_csv(folder / "summary.csv", index=False)
    table = Table(title=f"Plans ({config.staffing.census_quantile:.0%} of the forecast census) "
                  f"against the roster, {config.forecast.test_weeks} test weeks")  # fmt: skip
    for column in ("facility", "unsafe shifts: roster", "plan", "cost: roster", "plan",
                   "events avoided", "deaths avoided"):  # fmt: skip
        table.add_column(column, justify="left" if column == "facility" else "right")
    for _, row in judged.iterrows():
        table.add_row(
            row["facility"], f"{row['roster_unsafe_shifts']}",
            evaluation.with_interval(row, "plan_unsafe_shifts", "{:.0f}"),
            f"${row['roster_cost_usd'] / 1e6:.2f}M", f"${row['plan_cost_usd'] / 1e6:.2f}M",
            evaluation.with_interval(row, "events_avoided", "{:.1f}"),
            evaluation.with_interval(row, "deaths_avoided", "{:.1f}"),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"{len(seconds)} plans, solver {sum(seconds):.1f} s in all (at most {max(seconds):.2f} s); "
        f"tables in {config.tables_dir}/evaluation/"
    )


if __name__ == "__main__":
    app()
