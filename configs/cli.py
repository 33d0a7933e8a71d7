"""What every stage's command line shares: its consoles, and the profile and override options."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

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
