"""``python -m training``: tune, evaluate and register every task's model (or ``task=...``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from configs import cli, load_settings_or_exit
from features.dictionary import baseline_name
from training.data import TrainingDataError
from training.model_card import TaskResult
from training.pipeline import train_task

app = cli.app(__doc__)
console, errors = cli.consoles()


@app.command()
def main(
    arguments: Annotated[
        list[str] | None, typer.Argument(help="task=<name> and key=value overrides")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="small, default or large")
    ] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="folder holding features/")] = Path(
        "data"
    ),
) -> None:
    arguments = arguments or []
    chosen = [a.split("=", 1)[1] for a in arguments if a.startswith("task=")]
    settings = load_settings_or_exit(profile, [a for a in arguments if not a.startswith("task=")])
    tasks = chosen or settings.task_names
    unknown = [t for t in tasks if t not in settings.tasks]
    if unknown:
        errors.print(f"[red]unknown task(s) {unknown}: choose from {sorted(settings.tasks)}[/red]")
        raise typer.Exit(2)
    started, results = time.perf_counter(), []
    for task in tasks:
        try:
            results.append(train_task(settings, task, data_dir, progress=console.print))
        except TrainingDataError as error:
            errors.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
    console.print(_summary(results, time.perf_counter() - started))


NAMES = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R2",
}


def _summary(results: list[TaskResult], seconds: float) -> Table:
    table = Table(title=f"Champions and challengers ({seconds / 60:.1f} min)")
    for column in (
        "task",
        "model",
        "test (95% CI)",
        "baseline",
        "ceiling: share (95% CI)",
        "ECE",
        "champion",
    ):
        table.add_column(column, overflow="fold")
    for r in results:
        value, low, high = r.test
        name = NAMES[r.metric]
        baseline = ", ".join(f"{baseline_name(b)} {v:.3g}" for b, v in r.baselines.items())
        lift, model, oracle, share = r.ceiling
        ceiling = (
            f"{NAMES[lift]} {model:.3f} of {oracle:.3f}: {share:.0%}"
            f" ({r.ceiling_interval[0]:.0%}-{r.ceiling_interval[1]:.0%})"
            if share is not None and r.ceiling_interval is not None
            else "-"
        )
        ece = f"{r.calibration['ece']:.3f}" if "ece" in r.calibration else "-"
        table.add_row(
            r.task, f"{r.family} v{r.version}", f"{name} {value:.3g} ({low:.3g}-{high:.3g})",
            baseline, ceiling, ece, "moved" if r.champion_moved else "kept",
        )  # fmt: skip
    return table


if __name__ == "__main__":
    app()
