"""``make train`` stage by stage: wall time and peak memory of each, and what the models reach.

    python -m benchmarks.bench_train [--profile default] [--patients N ...]

Runs every stage as a user would, each in its own process, in a temporary folder (its own data,
MLflow store and Optuna studies), with the environment already set up. With several
``--patients`` it is a learning curve: the same world (configuration and seed) at each size, side
by side in one run, with each task's test metric (95% interval) and its share of the oracle's
ceiling, read from the run training logged.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import mlflow
import typer
from rich.console import Console
from rich.table import Table

import registry
from benchmarks.common import Patients, run_measured, world_commands, write_results
from configs import Settings, load_settings

console = Console()


def measure(profile: str, patients: int | None) -> dict:
    """Every stage of ``make train`` on one world, and each task's figures from MLflow."""
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{profile}-", dir="data") as tmp:
        folder = Path(tmp).resolve()
        store = [
            f"training.tracking_uri=sqlite:///{folder / 'mlflow.db'}",
            f"training.artifact_location={folder / 'artifacts'}",
            f"training.optuna_storage=sqlite:///{folder / 'optuna.db'}",
        ]
        data = folder / "data"
        train = ["--profile", profile, "--data-dir", str(data), *store]
        stages = world_commands(data, profile, patients) | {
            "train": [sys.executable, "-m", "training", *train]
        }
        os.environ.pop(registry.TRACKING_URI_ENV, None)
        results = {name: run_measured(command) for name, command in stages.items()}
        tasks = _task_figures(load_settings(profile, store))
    return {
        "patients": patients or load_settings(profile).data_gen.n_patients,
        "stages": results,
        "total_seconds": sum(r["seconds"] for r in results.values()),
        "tasks": tasks,
    }


def _task_figures(settings: Settings) -> dict[str, dict[str, float]]:
    """Each task's latest run: its metric on the test split with the interval, and its share
    of the ceiling (the oracle's lift over chance)."""
    mlflow.set_tracking_uri(registry.tracking_uri(settings))
    figures = {}
    for task in settings.task_names:
        runs = mlflow.search_runs(  # the task's run, not its trials' nested runs
            experiment_names=[registry.experiment_name(settings, task)],
            filter_string=f"tags.task = '{task}'",
            order_by=["start_time DESC"],
            max_results=1,
        )
        metric = settings.tasks[task].metric
        row = runs.iloc[0]
        lift = "auroc" if settings.tasks[task].kind == "binary" else "r2"
        figures[task] = {
            "metric": metric,
            "family": row.get("params.family"),
            "test": row[f"metrics.{registry.metric_on_test(metric)}"],
            "low": row[f"metrics.{registry.metric_on_test(metric, 'low')}"],
            "high": row[f"metrics.{registry.metric_on_test(metric, 'high')}"],
            "ceiling_fraction": row.get(f"metrics.{registry.ceiling_fraction(lift)}"),
            "ceiling_fraction_low": row.get(f"metrics.{registry.ceiling_fraction(lift, 'low')}"),
            "ceiling_fraction_high": row.get(f"metrics.{registry.ceiling_fraction(lift, 'high')}"),
            # Every test, baseline and oracle figure the run logged, for the README's ranges.
            "logged": {
                column.removeprefix("metrics."): row[column]
                for column in row.index
                if column.startswith(("metrics.test_", "metrics.baseline_", "metrics.oracle_"))
                and row[column] == row[column]
            },
        }
    return figures


def main(
    profile: Annotated[str, typer.Option(help="configuration profile")] = "default",
    patients: Patients = None,
) -> None:
    Path("data").mkdir(exist_ok=True)
    name = f"train_{profile}" + "".join(f"_{n}" for n in patients or [])
    runs = []
    for n in patients or [None]:  # the results so far are written after each size
        runs.append(measure(profile, n))
        path = write_results(name, {"profile": profile, "runs": runs})
    table = Table(title=f"make train, {profile} profile, environment set up")
    for column in ("patients", "stage", "seconds", "peak MiB"):
        table.add_column(column, justify="right")
    for run in runs:
        for stage, result in run["stages"].items():
            table.add_row(
                f"{run['patients']:,}", stage, f"{result['seconds']:.1f}",
                f"{result['peak_rss_mib']:,.0f}",
            )  # fmt: skip
        table.add_row(f"{run['patients']:,}", "total", f"{run['total_seconds']:.1f}", "")
    console.print(table)
    curve = Table(
        title="What the models reach: test metric and share of the ceiling (95% intervals)"
    )
    curve.add_column("task")
    for run in runs:
        curve.add_column(f"{run['patients']:,} patients", justify="right")
    for task in runs[0]["tasks"]:
        cells = []
        for run in runs:
            f = run["tasks"][task]
            share = f["ceiling_fraction"]
            cells.append(
                f"{f['metric']} {f['test']:.3f} ({f['low']:.3f}-{f['high']:.3f}), "
                + (
                    "-"
                    if share is None or share != share
                    else f"{share:.0%} ({f['ceiling_fraction_low']:.0%}-"
                    f"{f['ceiling_fraction_high']:.0%})"
                )
            )
        curve.add_row(task, *cells)
    console.print(curve)
    console.print(f"results: {path}")


if __name__ == "__main__":
    typer.run(main)
