"""``python -m features``: ETL (validate, quarantine, de-identify), feature tables, realism."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from configs import cli, load_settings, load_settings_or_exit
from features import build, dictionary, etl, report, validation
from features.deidentify import PseudonymKeyError
from features.engine import EngineError

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding raw/, clean/, features/")]
DICTIONARY = Path("docs/data_dictionary.md")


def _fail(message: object, code: int = 1) -> typer.Exit:
    errors.print(f"[red]{message}[/red]")
    return typer.Exit(code)


@app.command("etl")
def etl_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Validate data/raw, write data/quarantine and the de-identified data/clean."""
    settings = load_settings_or_exit(profile, overrides)
    started = time.perf_counter()
    try:
        with cli.stage_progress(console, "ETL") as progress:
            result = etl.run_etl(settings, data_dir, progress=progress)
    except (
        FileNotFoundError,
        validation.TableStructureError,
        PseudonymKeyError,
        etl.QuarantineLimitError,
        EngineError,
    ) as error:
        raise _fail(error) from None
    _print_summary(f"ETL of {data_dir}/raw ({time.perf_counter() - started:.1f} s)", result)
    console.print(f"clean tables in {data_dir}/clean, quarantined rows in {data_dir}/quarantine")


def _print_summary(title: str, result: etl.EtlResult) -> None:
    table = Table(title=title)
    for column in ("table", "rows in", "accepted", "quarantined", "share", "values nulled"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for row in result.summary.itertuples():
        table.add_row(
            row.table,
            f"{row.rows_in:,}",
            f"{row.accepted:,}",
            f"{row.quarantined:,}",
            f"{row.quarantined_share:.2%}",
            f"{row.values_nulled:,}",
        )
    console.print(table)
    if len(result.reasons):
        reasons = Table(
            title="Quarantine reasons, and values nulled in fields the clean tables drop"
        )
        for column in ("table", "column", "check", "action", "rows"):
            reasons.add_column(column, justify="right" if column == "rows" else "left")
        for row in result.reasons.sort_values(
            ["table", "action", "rows"], ascending=[True, False, False]
        ).itertuples():
            reasons.add_row(row.table, row.column, row.check, row.action, f"{row.rows:,}")
        console.print(reasons)


@app.command("build")
def build_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Write data/features/<table>.parquet for every task declared in configs/tasks/."""
    settings = load_settings_or_exit(profile, overrides)
    started = time.perf_counter()
    try:
        with cli.stage_progress(console, "features") as progress:
            manifest = build.run_build(settings, data_dir, progress=progress)
    except (FileNotFoundError, PseudonymKeyError, ValueError, EngineError) as error:
        raise _fail(error) from None
    summary = Table(
        title=f"Feature tables in {data_dir}/features ({time.perf_counter() - started:.1f} s)"
    )
    for column in ("task", "features", "train", "validation", "test", "label", "mean"):
        summary.add_column(
            column, justify="left" if column in ("task", "label") else "right", no_wrap=True
        )
    for name in settings.task_names:
        task = settings.tasks[name]
        built = manifest[task.table]
        features = len(built["roles"]["features"])
        rows = [f"{built['rows'].get(split, 0):,}" for split in ("train", "validation", "test")]
        summary.add_row(
            name, str(features), *rows, task.target, f"{built['label_mean'][task.target]:,.3g}"
        )
    console.print(summary)


@app.command("report")
def report_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """AUROC of the clinical scores (LACE, HOSPITAL, NEWS2, ...) on the synthetic world, against
    their published figures; exits 1 only when a score's whole 95% interval is implausible."""
    settings = load_settings_or_exit(profile, overrides)
    folder = data_dir / build.FEATURES_DIR
    checked = {n: settings.tasks[n] for n in settings.task_names if settings.tasks[n].published}
    paths = {task.table: folder / f"{task.table}.parquet" for task in checked.values()}
    if missing := [str(path) for path in paths.values() if not path.exists()]:
        raise _fail(f"no feature tables {missing}: run `make features` first")
    checks = report.realism(report.read_scored(paths, checked), checked)
    table = Table(
        title=f"AUROC of clinical scores on the synthetic world (all splits; at most "
        f"{report.MAX_ROWS:,} rows a table, a seeded sample beyond)"
    )
    for column in ("score", "outcome", "AUROC", "95% CI", "published", "plausible", "oracle", ""):
        table.add_column(column, no_wrap=True)
    colours = {"ok": "green", "unsure": "yellow", "off": "red"}
    for c in checks:
        name = c.score.removesuffix("_score").upper()
        table.add_row(
            name, c.outcome, f"{c.auroc:.3f}", f"{c.low:.2f}-{c.high:.2f}", c.published,
            f"{c.plausible[0]:.2f}-{c.plausible[1]:.2f}", f"{c.ceiling:.3f}",
            f"[{colours[c.verdict]}]{c.verdict}[/{colours[c.verdict]}]",
        )  # fmt: skip
    console.print(table)
    console.print(
        "ok: the AUROC lies in the plausible range; unsure: it does not, but its interval reaches"
        " in (a small world cannot tell); off: the whole interval lies outside. published: "
        + "; ".join(f"{c.score.removesuffix('_score').upper()} {c.source}" for c in checks)
        + ". oracle: the generator's true risk on the same rows, the ceiling for any model."
    )
    if any(c.verdict == "off" for c in checks):
        raise typer.Exit(1)


@app.command("dictionary")
def dictionary_command(
    check: Annotated[
        bool, typer.Option(help="fail if the committed dictionary is out of date")
    ] = False,
    output: Annotated[Path, typer.Option(help="where to write the dictionary")] = DICTIONARY,
) -> None:
    """Write the feature tables' data dictionary (docs/data_dictionary.md) from the code."""
    text = dictionary.markdown(load_settings())
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
