"""``python -m data_gen``: generate the synthetic hospital world, or report its calibration."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from configs import ConfigError, Settings, cli, load_settings_or_exit
from data_gen import corrupt, period
from data_gen import generate as gen
from data_gen import report as rep

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="where raw/ and oracle/ are written")]


@app.command("generate")
def generate_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    force: Annotated[bool, typer.Option(help="regenerate even if data/raw is up to date")] = False,
) -> None:
    """Generate data/raw/*.parquet and data/oracle/*.parquet with a manifest."""
    settings = load_settings_or_exit(profile, overrides)
    _generate(settings, data_dir, force, f"{settings.profile} world")


@app.command("period")
def period_command(
    scenario: Annotated[str, typer.Option("--scenario", "-s", help="a name under next_period")],
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    force: Annotated[bool, typer.Option(help="regenerate even if it is up to date")] = False,
) -> None:
    """Generate the period after the span under a scenario into data/periods/<scenario>/."""
    base = load_settings_or_exit(profile, overrides)
    try:
        settings = period.period_settings(base, scenario)
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    description = base.data_gen.next_period.scenarios[scenario].description
    start = base.data_gen.end_date
    console.print(f"[bold]{scenario}[/bold] from {start}: {description}")
    _generate(settings, period.period_dir(data_dir, scenario), force, f"period {scenario!r}")


def _generate(settings: Settings, data_dir: Path, force: bool, label: str) -> None:
    config = settings.data_gen
    reason = "asked to (--force)" if force else gen.stale_reason(settings, data_dir)
    if reason is None:
        console.print(f"{data_dir}/raw is up to date for {label} (use --force to regenerate)")
        return
    if (data_dir / "raw" / gen.MANIFEST).exists():
        console.print(f"regenerating {data_dir}/raw: {reason}")
    started = time.perf_counter()
    with cli.stage_progress(console, "generating") as progress:
        blocks = functools.partial(progress, f"{config.n_patients:,} patients")
        manifest = gen.generate(settings, data_dir, blocks)
    elapsed = time.perf_counter() - started
    table = Table(title=f"{label} in {data_dir}/ ({elapsed:.1f} s, {config.workers} worker(s))")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, entry in manifest["tables"].items():
        table.add_row(name, f"{entry['rows']:,}")
    console.print(table)


@app.command("report")
def report_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Print the world's headline figures against their calibration targets."""
    settings = load_settings_or_exit(profile, overrides)
    if not (data_dir / "raw" / gen.MANIFEST).exists():
        errors.print(f"[red]no generated world in {data_dir}/raw: run `make data` first[/red]")
        raise typer.Exit(1)
    config = settings.data_gen
    for theme, checks in rep.world_checks(data_dir, config).items():
        title = rep.CHECK_TITLES[theme]
        _print_checks(checks, f"{title} ({data_dir}/raw)" if theme == "headline" else title)
    shares = rep.diagnosis_shares(rep.load_raw(data_dir, ("encounters",))["encounters"], config)
    table = Table(title="Principal-diagnosis groups: share of admissions of their kind")
    for column in ("group", "kind", "share", "target"):
        table.add_column(column, justify="left" if column in ("group", "kind") else "right")
    for row in shares.itertuples():
        table.add_row(row.group, row.kind, f"{row.share:.2%}", f"{row.target:.2%}")
    console.print(table)


def _print_checks(checks: list[rep.Check], title: str) -> None:
    table = Table(title=title)
    for column in ("figure", "value", "target", ""):
        table.add_column(column, no_wrap=True)
    for check in checks:
        verdict = "[green]ok[/green]" if check.ok else "[red]off[/red]"
        table.add_row(check.name, check.show(check.value), check.target, verdict)
    console.print(table)


@app.command("corrupt")
def corrupt_command(
    rate: Annotated[
        float, typer.Option(help="share of each table's rows to damage (0-0.5)")
    ] = 0.02,
    seed: Annotated[int, typer.Option(help="seed of the damage")] = 1,
    data_dir: DataDir = Path("data"),
) -> None:
    """Inject realistic faults into data/raw in place (for trying the ETL's quarantine)."""
    if not 0.0 <= rate <= 0.5:
        errors.print(f"[red]--rate must lie between 0 and 0.5 (got {rate})[/red]")
        raise typer.Exit(2)
    try:
        counts = corrupt.corrupt_world(data_dir, rate, seed)
    except FileNotFoundError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    table = Table(title=f"Faults injected into {data_dir}/raw (rate {rate:g}, seed {seed})")
    for column in ("table", "fault", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for (name, fault), n in sorted(counts.items()):
        table.add_row(name, fault, f"{n:,}")
    console.print(table)
    console.print("`make data` (or `generate --force`) brings back the clean world.")


if __name__ == "__main__":
    app()
