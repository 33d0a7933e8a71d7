"""``python -m finance``: Medicare's readmission penalty by facility, and the revenue, cost and
margin forecast with its backtest."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from configs import cli, load_settings_or_exit
from features.io import atomic_folder
from finance import FinanceError, facility_id_of, forecast, readmissions

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding clean/")]
FacilityOption = Annotated[
    str | None, typer.Option("--facility", help="one facility, by name (default: all of them)")
]
FAILURES = (FinanceError, FileNotFoundError)


@app.callback()
def main() -> None:
    """Finance: the readmission penalty, and the revenue and margin forecast."""


def _day(option: str, value: str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(date.fromisoformat(value))
    except ValueError:
        errors.print(f"[red]{option} {value!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None


@app.command("readmissions")
def readmissions_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    facility: FacilityOption = None,
    since: Annotated[
        str | None, typer.Option(help="first day of discharge of the index stays, YYYY-MM-DD")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="last day of discharge of the index stays, YYYY-MM-DD")
    ] = None,
) -> None:
    """Each facility's excess readmission ratio for the six HRRP conditions and the payment
    penalty they bring, with intervals; tables in reports/finance/readmissions/."""
    settings = load_settings_or_exit(profile, overrides)
    rules = settings.finance.readmission_penalty
    first, last = _day("--since", since), _day("--until", until)
    try:
        records = readmissions.load_records(data_dir / "clean", settings).between(first, last)
        wanted = facility and facility_id_of(records.facilities, facility)
        ratios = readmissions.excess_readmission_ratios(records.index, rules)
        penalties = readmissions.penalties(ratios, records, rules)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    names = records.facilities.set_index("facility_id")["name"]
    table = ratios.table.assign(facility=ratios.table["facility_id"].map(names))
    if wanted:
        table = table[table["facility_id"] == wanted]
        penalties = penalties[penalties["facility_id"] == wanted]
    target = Path(settings.finance.tables_dir) / "readmissions"
    with atomic_folder(target) as folder:
        table.to_csv(folder / "excess_readmission_ratios.csv", index=False)
        penalties.to_csv(folder / "penalties.csv", index=False)
    period = records.index["discharged_at"]
    shown = Table(
        title=f"HRRP penalty by facility, index stays discharged {period.min():%Y-%m-%d} to "
        f"{period.max():%Y-%m-%d} ({rules.coverage:.0%} intervals)"
    )
    for column in ("facility", "conditions", "penalty", "interval", "penalised", "penalty (USD)"):
        shown.add_column(column, justify="left" if column == "facility" else "right")
    for row in penalties.itertuples():
        if not row.in_program:
            shown.add_row(row.facility, str(row.conditions_counted), "exempt", "", "", "")
            continue
        shown.add_row(
            row.facility, str(row.conditions_counted), f"{row.penalty_share:.2%}",
            f"{row.penalty_share_low:.2%}-{row.penalty_share_high:.2%}",
            f"{row.penalised_probability:.0%}", f"${row.penalty_usd:,.0f}",
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/")


@app.command("forecast")
def forecast_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    facility: FacilityOption = None,
) -> None:
    """Backtest the monthly revenue, cost and margin forecasts of every facility from rolling
    origins against seasonal-naive, and forecast the months after the records; tables in
    reports/finance/forecast/."""
    settings = load_settings_or_exit(profile, overrides)
    config = settings.finance.forecast
    try:
        monthly = forecast.load_monthly(data_dir / "clean", config)
        if facility:
            facilities = pd.read_parquet(data_dir / "clean" / "facilities.parquet")
            name = facilities.set_index("facility_id")["name"][facility_id_of(facilities, facility)]
            monthly = monthly[monthly["facility"].isin([name, forecast.ALL_FACILITIES])]
        runs = forecast.backtest_facilities(monthly, config)
        ahead = forecast.forecast_facilities(monthly, config)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    summary = forecast.backtest_summary(runs)
    target = Path(settings.finance.tables_dir) / "forecast"
    with atomic_folder(target) as folder:
        monthly.to_csv(folder / "monthly.csv", index=False)
        runs.to_csv(folder / "backtest.csv", index=False)
        summary.to_csv(folder / "backtest_summary.csv", index=False)
        ahead.to_csv(folder / "forecast.csv", index=False)
    system = summary[summary["facility"] == forecast.ALL_FACILITIES]
    shown = Table(
        title=f"System revenue and margin forecast backtest: {runs['origin'].nunique()} monthly "
        f"origins ({config.coverage:.0%} intervals)"
    )
    for column in ("measure", "months ahead", "MAE", "seasonal-naive MAE", "ratio", "covered"):
        shown.add_column(column, justify="left" if column == "measure" else "right")
    for row in system[system["measure"] != "cost_usd"].itertuples():
        shown.add_row(
            row.measure.removesuffix("_usd"), str(row.months_ahead), f"${row.mae_usd:,.0f}",
            f"${row.seasonal_naive_mae_usd:,.0f}", f"{row.mae_ratio:.2f}", f"{row.coverage:.0%}",
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/")


if __name__ == "__main__":
    app()
