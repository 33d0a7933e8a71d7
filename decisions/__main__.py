"""``python -m decisions``: what acting on the champions is worth on a period none of them has
seen, judged against the world's truth: the transitional-care programme and the brief's claims,
and the rapid-response policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

import registry
from configs import cli, load_settings_or_exit
from decisions import (
    DecisionError,
    period_folder,
    period_months,
    period_rows,
    programme,
    rapid_response,
    transport,
    validation,
)
from features.io import atomic_folder
from finance import FinanceError
from training import tripod

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding periods/")]
FAILURES = (DecisionError, FinanceError, FileNotFoundError, registry.ChampionNotFoundError)


@app.callback()
def main() -> None:
    """Decisions: the transitional-care programme, the brief's claims, rapid response."""


@app.command("period")
def period_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """The period the decisions are judged on (``decisions.period_scenario``): generated,
    cleaned and featured into data/periods/<scenario>/ (each step skipped when up to date)."""
    settings = load_settings_or_exit(profile, overrides)
    cli.prepare_period(
        settings.decisions.period_scenario, profile, overrides or [], data_dir, errors
    )


@app.command("validate")
def validate_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Every champion on the prospective period: metrics and the share of the ceiling with 95%
    intervals, calibration per subgroup, decision curves, and the model goals judged; logged to
    each champion's MLflow run, tables in reports/decisions/validation/."""
    settings = load_settings_or_exit(profile, overrides)
    results = []
    try:
        for task in settings.task_names:
            rows, fit_rows = validation.load(settings, task, data_dir)
            result = validation.validate(settings, task, rows, fit_rows)
            validation.log_to_champion(settings, result)
            results.append(result)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    summary = pd.DataFrame([validation.summary_row(r, settings) for r in results])
    target = Path(settings.decisions.tables_dir) / "validation"
    with atomic_folder(target) as folder:
        summary.to_csv(folder / "summary.csv", index=False)
        for result in results:
            result.subgroups.to_csv(folder / f"subgroups_{result.task}.csv", index=False)
            if result.curve is not None:
                result.curve.to_csv(folder / f"decision_curve_{result.task}.csv", index=False)
    shown = Table(
        title=f"The champions on the {settings.decisions.period_scenario} period (95% intervals; "
        "goal met when the whole interval of the share passes it)"
    )
    for column in ("task", "rows", "metric", "share of the ceiling", "goal", "verdict"):
        shown.add_column(column, justify="left" if column in ("task", "verdict") else "right")
    for row in summary.itertuples():
        shown.add_row(
            row.task, f"{row.rows:,}",
            f"{row.metric} {row.value:.3g} ({row.low:.3g}-{row.high:.3g})",
            f"{row.lift} {row.ceiling_share:.0%} ({row.ceiling_share_low:.0%}-"
            f"{row.ceiling_share_high:.0%})",
            "" if pd.isna(row.goal) else f"{row.goal:.0%}", row.verdict,
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/; metrics on each champion's run (prospective_*)")


@app.command("transport")
def transport_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Leave one facility out: each champion's configuration refitted without a facility and
    judged on that facility's prospective rows, beside the champion (discrimination and
    calibration per facility); logged on each champion's run, tables in
    reports/decisions/transport/."""
    settings = load_settings_or_exit(profile, overrides)
    clean = period_folder(settings, data_dir) / "clean"
    tables = {}
    try:
        for task in settings.task_names:
            rows = period_rows(settings, task, data_dir)
            tables[task] = transport.leave_one_facility_out(settings, task, data_dir, rows, clean)
            transport.log_to_champion(settings, task, tables[task])
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    target = Path(settings.decisions.tables_dir) / "transport"
    with atomic_folder(target) as folder:
        for task, table in tables.items():
            table.to_csv(folder / f"{task}.csv", index=False)
    shown = Table(title="Leave one facility out: the refit without it against the champion")
    for column in ("task", "measure", "champion", "held out", "worst facility, held out"):
        shown.add_column(column, justify="left" if column in ("task", "measure") else "right")
    for task, table in tables.items():
        measure = "auroc" if settings.tasks[task].kind == "binary" else "r2"
        weights = table["rows"] / table["rows"].sum()
        worst = table.loc[table[f"held_out_{measure}"].idxmin()]
        shown.add_row(
            task, measure, f"{(table[f'champion_{measure}'] * weights).sum():.3f}",
            f"{(table[f'held_out_{measure}'] * weights).sum():.3f}",
            f"{worst[f'held_out_{measure}']:.3f} (facility {int(worst['facility_id'])})",
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/ (row-weighted means above)")


@app.command("report")
def report_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
) -> None:
    """Each champion's TRIPOD+AI report and model-facts label (Markdown and HTML), generated
    from its MLflow run (after `validate`, whose figures they include) and logged on it."""
    settings = load_settings_or_exit(profile, overrides)
    client = registry.connect(settings)
    try:
        for task in settings.task_names:
            record = tripod.run_record(client, settings, task)
            tripod.log_reports(client, record)
            console.print(
                f"{task}: reports/tripod_ai.md and reports/model_facts.md on run {record.run_id}"
            )
    except registry.ChampionNotFoundError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


@app.command("programme")
def programme_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """The transitional-care programme targeted by the readmission champion, by LACE and at
    random at each configured capacity (readmissions avoided and money a year, 95% intervals),
    the capacity curve, and the brief's claims (a 15% reduction, $2M a year) tested; tables in
    reports/decisions/programme/."""
    settings = load_settings_or_exit(profile, overrides)
    care, months = settings.decisions.transitional_care, period_months(settings)
    try:
        stays, prices, penalty = programme.load(settings, data_dir)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    table = programme.evaluate(stays, care, prices, penalty, months)
    capacities = programme.capacity_grid(stays)
    curve = programme.capacity_curve(stays, care, prices, penalty, months, capacities)
    claims = programme.seed_claims(curve, settings.decisions.seed_claims, care.relative_reduction)
    target = Path(settings.decisions.tables_dir) / "programme"
    with atomic_folder(target) as folder:
        table.to_csv(folder / "programme.csv", index=False)
        curve.to_csv(folder / "capacity_curve.csv", index=False)
        claims.to_csv(folder / "seed_claims.csv", index=False)
        facts = {
            "readmission_cost_usd": prices.cost_usd,
            "readmission_payment_usd": prices.payment_usd,
            "period_months": months,
            "index_stays": len(stays),
        }
        (folder / "period.json").write_text(json.dumps(facts, indent=2) + "\n")
    shown = Table(
        title=f"Transitional care, {len(stays):,} index stays over {months} months: per year, "
        f"true effect {care.relative_reduction:.0%}, ${care.cost_per_patient_usd:,.0f} per "
        "enrolment (95% intervals)"
    )
    for column in ("capacity", "rule", "enrolled", "avoided", "reduction", "net (USD)"):
        shown.add_column(column, justify="left" if column == "rule" else "right")
    for row in table.itertuples():
        shown.add_row(
            f"{row.capacity_per_month}/month", row.rule, f"{row.enrolled_per_month:,.0f}/month",
            f"{row.readmissions_avoided:,.0f} ({row.readmissions_avoided_low:,.0f}-"
            f"{row.readmissions_avoided_high:,.0f})",
            f"{row.reduction:.1%} ({row.reduction_low:.1%}-{row.reduction_high:.1%})",
            f"${row.net_usd:,.0f} (${row.net_usd_low:,.0f} to ${row.net_usd_high:,.0f})",
        )  # fmt: skip
    console.print(shown)
    claimed = settings.decisions.seed_claims
    verdicts = Table(
        title=f"The brief's claims: {claimed.readmission_reduction:.0%} fewer readmissions, "
        f"${claimed.annual_savings_usd:,.0f} a year"
    )
    for column in ("rule", "capacity for the reduction", "best net a year", "at", "effect needed"):
        verdicts.add_column(column, justify="left" if column == "rule" else "right")
    for row in claims.itertuples():
        verdicts.add_row(
            row.rule,
            "never" if pd.isna(row.capacity_for_reduction)
            else f"{row.capacity_for_reduction:,.0f}/month",
            f"${row.best_net_usd:,.0f}", f"{row.best_net_capacity:,}/month",
            f"{row.effect_for_reduction_at_best:.0%}",
        )  # fmt: skip
    console.print(verdicts)
    console.print(f"tables in {target}/")


@app.command("rapid-response")
def rapid_response_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Alerts per ward nurse per shift against deteriorations caught early: NEWS2 at each
    trigger, and the deterioration champion at the same workload and at the same catch; table in
    reports/decisions/rapid_response/."""
    settings = load_settings_or_exit(profile, overrides)
    policy = settings.decisions.rapid_response
    try:
        ward = rapid_response.load(settings, data_dir)
    except FAILURES as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    table = rapid_response.compare(ward, policy)
    target = Path(settings.decisions.tables_dir) / "rapid_response"
    with atomic_folder(target) as folder:
        table.to_csv(folder / "policies.csv", index=False)
    shown = Table(
        title=f"Rapid response: {len(ward.events):,} deteriorations, {ward.nurse_shifts:,.0f} "
        f"ward nurse shifts; caught early: an alert {policy.lead_hours:g}-{policy.window_hours:g} "
        "h before (95% intervals)"
    )
    for column in (
        "rule",
        "threshold",
        "alerts per nurse per shift",
        "caught early",
        "alerts per catch",
    ):
        shown.add_column(column, justify="left" if column == "rule" else "right")
    for row in table.itertuples():
        shown.add_row(
            row.rule, f"{row.threshold:.3g}", f"{row.alerts_per_nurse_shift:.2f}",
            f"{row.caught_share:.0%} ({row.caught_share_low:.0%}-{row.caught_share_high:.0%})",
            f"{row.alerts_per_event_caught:.1f}",
        )  # fmt: skip
    console.print(shown)
    console.print(f"table in {target}/")


if __name__ == "__main__":
    app()
