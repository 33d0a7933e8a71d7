"""``python -m notebooks run``: execute the analysis notebooks on the current outputs of the
stages, into reports/notebooks/ (executed notebooks and HTML, and each one's time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from configs import cli, load_settings_or_exit
from notebooks import notebook_paths
from notebooks.execute import NotebookError, execute

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="the folder make train wrote")]


@app.callback()
def main() -> None:
    """The analysis notebooks, executed."""


@app.command("run")
def run_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="where the executed notebooks and pages go")
    ] = Path("reports/notebooks"),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="a notebook's name (01_data_cleaning)")
    ] = None,
) -> None:
    """Run every notebook top to bottom (or those named by --only) with these settings; the
    executed notebooks and their HTML pages in reports/notebooks/."""
    settings = load_settings_or_exit(profile, overrides)
    paths = notebook_paths()
    unknown = sorted(set(only or []) - {p.stem for p in paths})
    if unknown:
        errors.print(f"[red]no notebook {unknown}: choose from {[p.stem for p in paths]}[/red]")
        raise typer.Exit(2)
    parameters = {
        "profile": settings.profile,
        "data_dir": str(data_dir.resolve()),
        "overrides": list(overrides or []),
    }
    timings_path = output_dir / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    ran, failed = {}, []
    for path in paths:
        if only and path.stem not in only:
            continue
        console.print(f"[bold]{path.stem}[/bold] ...")
        try:
            ran[path.stem] = execute(path, output_dir, parameters)
        except NotebookError as error:
            errors.print(f"[red]{error}[/red]")
            failed.append(path.stem)
            continue
        timings[path.stem] = {"profile": settings.profile, "seconds": round(ran[path.stem], 1)}
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")
    table = Table(title=f"Notebooks in {output_dir}/ (profile {settings.profile})")
    for column in ("notebook", "seconds", "page"):
        table.add_column(column)
    for name, seconds in ran.items():
        table.add_row(name, f"{seconds:.0f}", f"{name}.html")
    console.print(table)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
