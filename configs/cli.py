"""What every stage's command line shares: its consoles, and the profile and override options."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
