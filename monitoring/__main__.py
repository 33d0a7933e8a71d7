"""``python -m monitoring``: drift and performance reports on the champions, and the hospital KPI
tables (DuckDB, and PostgreSQL when configured)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import registry
from configs import cli, load_settings_or_exit
from features.engine import EngineError
from features.io import atomic_folder
from monitoring import drift, kpis

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding clean/")]
RunOption = Annotated[
    str | None, typer.Option("--run", help="name of the run folder (default: the UTC time)")
]


@app.callback()
def main() -> None:
    """Monitoring: drift and performance reports, and the hospital KPI tables."""


@app.command("run")
def run_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    run: RunOption = None,
) -> None:
    """Everything `make monitor` does: the next period (generated, cleaned, featured) unless the
    current data is the audit log, drift and performance per champion, the KPI tables, and a
    summary in reports/<run>/; the exit code follows fail_on."""
    settings = load_settings_or_exit(profile, overrides)
    config = settings.monitoring
    scenario = config.drift.scenario
    run = run or _now()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not (data_dir / "features" / "manifest.json").exists():
        errors.print(f"[red]no feature tables in {data_dir}/features: run `make train` first[/red]")
        raise typer.Exit(1)
    if scenario != "audit":
        cli.prepare_period(scenario, profile, overrides or [], data_dir, errors)
        timings["next period (generate, ETL, features)"] = time.perf_counter() - started
    summaries, snapshots_by_task = [], {}
    target = Path(config.reports_dir) / run
    try:
        tables = kpis.load_tables(data_dir / "clean", settings)
        with atomic_folder(target) as folder:
            for task in settings.task_names:
                began = time.perf_counter()
                champion = registry.load_champion(settings, task)
                reference = drift.reference_frame(settings, task, data_dir)
                current = (
                    drift.audit_frame(settings, task)
                    if scenario == "audit"
                    else drift.period_frame(settings, task, data_dir, scenario)
                )
                if current.empty:
                    errors.print(f"[yellow]{task}: no current rows, skipped[/yellow]")
                    continue
                snapshots, summary = drift.compare(
                    task,
                    settings.tasks[task],
                    champion.model,
                    champion.label,
                    reference,
                    current,
                    config.drift,
                )
                drift.write_task(snapshots, summary, folder / "drift")
                summaries.append(summary)
                snapshots_by_task[task] = snapshots
                timings[f"drift: {task}"] = time.perf_counter() - began
            began = time.perf_counter()
            results = kpis.run_duckdb(tables)
            kpis.write_kpis(results, folder / "kpis")
            headline = kpis.headline(results)
            timings["KPI tables"] = time.perf_counter() - began
            drift.write_summary(folder / "summary.md", scenario, summaries, headline)
            timings["total"] = time.perf_counter() - started
            (folder / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    except (FileNotFoundError, registry.ChampionNotFoundError, EngineError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    drift.add_to_workspace(Path(config.workspace), snapshots_by_task)
    _print_headline(headline, "Hospital KPIs, whole period")
    _print_verdicts(summaries, target)
    worst = max((drift.VERDICTS.index(s.verdict) for s in summaries), default=0)
    if config.drift.fail_on != "never" and worst >= drift.VERDICTS.index(config.drift.fail_on):
        raise typer.Exit(3)


def _print_verdicts(summaries: list, target: Path) -> None:
    table = Table(title="Drift and performance of the champions")
    for column in ("task", "verdict", "drifted features", "prediction drift", "main metric"):
        table.add_column(column)
    colours = {"ok": "green", "warn": "yellow", "alert": "red"}
    for s in summaries:
        metric = (
            f"{s.metric} {s.reference_value:.3f} -> {s.current_value:.3f}"
            if s.current_value is not None and s.reference_value is not None
            else f"{s.metric}: too few labels"
        )
        table.add_row(
            s.task,
            f"[{colours[s.verdict]}]{s.verdict}[/{colours[s.verdict]}]",
            f"{len(s.drifted_features)} ({s.drift_share:.0%})",
            "yes" if s.prediction_drift else "no",
            metric,
        )
    console.print(table)
    console.print(f"summary: {target}/summary.md; reports in {target}/drift/ and {target}/kpis/")


@app.command("kpis")
def kpis_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    run: RunOption = None,
) -> None:
    """The KPI tables from data/clean into reports/<run>/kpis/ (CSV and Markdown)."""
    settings = load_settings_or_exit(profile, overrides)
    config = settings.monitoring
    run = run or _now()
    started = time.perf_counter()
    try:
        tables = kpis.load_tables(data_dir / "clean", settings)
    except (FileNotFoundError, EngineError) as error:
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
    elapsed = time.perf_counter() - started
    _print_headline(kpis.headline(results), f"Hospital KPIs, whole period ({elapsed:.1f} s)")
    console.print(f"tables in {target}/ (CSV, and kpis.md to read)")


def _now() -> str:
    """The default run name: the UTC time, sortable."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _print_headline(headline: list[tuple[str, str]], title: str) -> None:
    table = Table(title=title)
    table.add_column("indicator")
    table.add_column("value", justify="right")
    for name, value in headline:
        table.add_row(name, value)
    console.print(table)


if __name__ == "__main__":
    app()
