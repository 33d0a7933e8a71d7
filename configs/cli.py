"""What every stage's command line shares: its consoles, and the profile and override options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Rich fits tables to the terminal, or to 80 columns when the output is a file or a pipe (make's
# log, CI): too narrow for the summaries, so a wide line is assumed there.
PIPED_WIDTH = 160

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. n_patients=5000 workers=2")
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", "-p", help="small, default or large (or $PROFILE)")
]


def app(doc: str | None) -> typer.Typer:
    """A stage's command line, its help the module's docstring."""
    return typer.Typer(add_completion=False, help=doc)


def consoles() -> tuple[Console, Console]:
    """The standard output's console and the standard error's, for messages."""
    width = None if sys.stdout.isatty() else PIPED_WIDTH
    return Console(width=width), Console(stderr=True, soft_wrap=True)


@contextmanager
def stage_progress(console: Console, verb: str) -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars, one per step of a stage: yields ``update(step, done, total)``."""
    with Progress(
        TextColumn(f"[bold]{verb}[/bold] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bars: dict[str, object] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in bars:
                bars[step] = progress.add_task(step, total=total)
            progress.update(bars[step], completed=done, total=total)

        yield update


def prepare_period(
    scenario: str, profile: str | None, overrides: list[str], data_dir: Path, errors: Console
) -> None:
    """A next period's clean and feature tables in data/periods/<scenario>/, by the stages' own
    commands (each skips what is up to date); exits with the failing command's code."""
    period = str(data_dir / "periods" / scenario)
    options = [*(["--profile", profile] if profile else []), *overrides]
    for command in (
        ["data_gen", "period", "--scenario", scenario, "--data-dir", str(data_dir)],
        ["features", "etl", "--data-dir", period],
        ["features", "build", "--data-dir", period],
    ):
        done = subprocess.run([sys.executable, "-m", *command, *options], check=False)
        if done.returncode != 0:
            errors.print(f"[red]`python -m {' '.join(command)}` failed[/red]")
            raise typer.Exit(done.returncode)
