"""``python -m monitoring``: the hospital KPI tables (DuckDB, and PostgreSQL when configured)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from configs import load_settings_or_exit
from features.io import atomic_folder
from monitoring import kpis

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()
errors = Console(stderr=True, soft_wrap=True)

Overrides = Annotated[list[str] | None, typer.Argument(help="key=value overrides")]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", "-p", help="small, default or large")
]
DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding clean/")]
RunOption = Annotated[
    str | None, typer.Option("--run", help="name of the run folder (default: the UTC time)")
]


@app.callback()
def main() -> None:
    """Monitoring: the hospital KPI tables."""


@app.command("kpis")
def kpis_command(
    overrides: Overrides = None,
    profile: ProfileOption = None,
    data_dir: DataDir = Path("data"),
    run: RunOption = None,
) -> None:
    """The KPI tables from data/clean into reports/<run>/kpis/ (CSV and Markdown)."""
    settings = load_settings_or_exit(profile, overrides)
    config = settings.monitoring
    run = run or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    try:
        tables = kpis.load_tables(data_dir / "clean", settings.features)
    except FileNotFoundError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    results = kpis.run_duckdb(tables)
    target = Path(config.reports_dir) / run / "kpis"
    with atomic_folder(target) as folder:
        kpis.write_kpis(results, folder)
        if config.kpis.postgres_url:
            on_postgres = kpis.run_postgres(
                tables, config.kpis.postgres_url, config.kpis.postgres_schema
            )
            kpis.write_kpis(on_postgres, folder / "postgresql")
    table = Table(title=f"Hospital KPIs, whole period ({time.perf_counter() - started:.1f} s)")
    table.add_column("indicator")
    table.add_column("value", justify="right")
    for name, value in kpis.headline(results):
        table.add_row(name, value)
    console.print(table)
    console.print(f"tables in {target}/ (CSV, and kpis.md to read)")


if __name__ == "__main__":
    app()
