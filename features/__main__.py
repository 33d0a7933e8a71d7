"""``python -m features``: ETL (validate, quarantine, de-identify), feature tables, realism."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from configs import load_settings, load_settings_or_exit
from features import build, dictionary, etl, report, validation
from features.deidentify import PseudonymKeyError

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()
errors = Console(stderr=True, soft_wrap=True)

Overrides = Annotated[list[str] | None, typer.Argument(help="key=value overrides")]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", "-p", help="small, default or large")
]
DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding raw/, clean/, features/")]
DICTIONARY = Path("docs/data_dictionary.md")


def _fail(message: object, code: int = 1) -> typer.Exit:
    errors.print(f"[red]{message}[/red]")
    return typer.Exit(code)


@app.command("etl")
def etl_command(
    overrides: Overrides = None, profile: ProfileOption = None, data_dir: DataDir = Path("data")
) -> None:
    """Validate data/raw, write data/quarantine and the de-identified data/clean."""
    settings = load_settings_or_exit(profile, overrides)
    started = time.perf_counter()
    try:
        result = etl.run_etl(settings, data_dir)
    except (FileNotFoundError, validation.TableStructureError, PseudonymKeyError) as error:
        raise _fail(error) from None
    except etl.QuarantineLimitError as error:
        raise _fail(error) from None
    _print_summary(f"ETL of {data_dir}/raw ({time.perf_counter() - started:.1f} s)", result)
    console.print(f"clean tables in {data_dir}/clean, quarantined rows in {data_dir}/quarantine")


def _print_summary(title: str, result: etl.EtlResult) -> None:
    table = Table(title=title)
    for column in ("table", "rows in", "accepted", "quarantined", "share"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for row in result.summary.itertuples():
        table.add_row(
            row.table,
            f"{row.rows_in:,}",
            f"{row.accepted:,}",
            f"{row.quarantined:,}",
            f"{row.quarantined_share:.2%}",
        )
    console.print(table)
    if len(result.reasons):
        reasons = Table(title="Quarantine reasons")
        for column in ("table", "column", "check", "rows"):
            reasons.add_column(column, justify="right" if column == "rows" else "left")
        for row in result.reasons.sort_values(
            ["table", "rows"], ascending=[True, False]
        ).itertuples():
            reasons.add_row(row.table, row.column, row.check, f"{row.rows:,}")
        console.print(reasons)


@app.command("build")
def build_command(
    overrides: Overrides = None, profile: ProfileOption = None, data_dir: DataDir = Path("data")
) -> None:
    """Write data/features/<task>.parquet for readmission, LOS, cost and deterioration."""
    settings = load_settings_or_exit(profile, overrides)
    started = time.perf_counter()
    try:
        tables = build.run_build(settings, data_dir)
    except (FileNotFoundError, PseudonymKeyError) as error:
        raise _fail(error) from None
    summary = Table(
        title=f"Feature tables in {data_dir}/features ({time.perf_counter() - started:.1f} s)"
    )
    for column in ("task", "features", "train", "validation", "test", "label", "mean"):
        summary.add_column(
            column, justify="left" if column in ("task", "label") else "right", no_wrap=True
        )
    for task, frame in tables.items():
        r = build.roles(task, settings.features)
        counts = frame["split"].value_counts()
        label = r.labels[0]
        rows = [f"{counts.get(split, 0):,}" for split in ("train", "validation", "test")]
        summary.add_row(task, str(len(r.features)), *rows, label, f"{frame[label].mean():,.3g}")
    console.print(summary)


@app.command("report")
def report_command(data_dir: DataDir = Path("data")) -> None:
    """AUROC of LACE, HOSPITAL and NEWS2 on the synthetic world, against their published figures."""
    folder = data_dir / build.FEATURES_DIR
    if not (folder / "readmission.parquet").exists():
        raise _fail(f"no feature tables in {folder}: run `make features` first")
    checks = report.realism(
        pd.read_parquet(folder / "readmission.parquet"),
        pd.read_parquet(folder / "deterioration.parquet"),
    )
    table = Table(title="AUROC of clinical scores on the synthetic world (all splits)")
    for column in ("score", "outcome", "AUROC", "95% CI", "published", "oracle", ""):
        table.add_column(column, no_wrap=True)
    for c in checks:
        verdict = "[green]ok[/green]" if c.ok else "[red]off[/red]"
        interval = f"{c.low:.2f}-{c.high:.2f}"
        name = c.score.removesuffix("_score").upper()
        table.add_row(
            name, c.outcome, f"{c.auroc:.3f}", interval, c.published, f"{c.ceiling:.3f}", verdict
        )
    console.print(table)
    console.print(
        "ok: within the plausible range (readmission 0.62-0.75, NEWS2 0.75-0.90). published: LACE"
        " van Walraven 2010; HOSPITAL Donze 2013, 2016; NEWS2 Smith 2013 and later cohorts. oracle:"
        " the generator's true risk on the same rows, the ceiling for any model."
    )
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command("dictionary")
def dictionary_command(
    check: Annotated[
        bool, typer.Option(help="fail if the committed dictionary is out of date")
    ] = False,
    output: Annotated[Path, typer.Option(help="where to write the dictionary")] = DICTIONARY,
) -> None:
    """Write the feature tables' data dictionary (docs/data_dictionary.md) from the code."""
    text = dictionary.markdown(load_settings().features)
    if check:
        if not output.exists() or output.read_text() != text:
            raise _fail(f"{output} is out of date: run `python -m features dictionary`")
        console.print(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")


if __name__ == "__main__":
    app()
