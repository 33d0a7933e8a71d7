"""``make train`` stage by stage on one profile: wall time and peak memory of each, as JSON.

    python -m benchmarks.bench_train [--profile default]

Runs every stage as a user would, each in its own process, in a temporary folder (its own data,
MLflow store and Optuna studies), with the environment already set up.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import registry
from benchmarks.common import run_measured, write_results

console = Console()


def main(profile: Annotated[str, typer.Option(help="configuration profile")] = "default") -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{profile}-") as tmp:
        folder = Path(tmp)
        common = ["--profile", profile, "--data-dir", str(folder / "data")]
        key = [f"features.etl.key_file={folder / 'pseudonym.key'}"]
        store = [
            f"training.tracking_uri=sqlite:///{folder / 'mlflow.db'}",
            f"training.artifact_location={folder / 'artifacts'}",
            f"training.optuna_storage=sqlite:///{folder / 'optuna.db'}",
        ]
        stages = {
            "generate": ["data_gen", "generate", *common],
            "etl": ["features", "etl", *common, *key],
            "features": ["features", "build", *common, *key],
            "train": ["training", *common, *store],
        }
        os.environ.pop(registry.TRACKING_URI_ENV, None)
        results = {
            name: run_measured([sys.executable, "-m", *args]) for name, args in stages.items()
        }
    total = sum(r["seconds"] for r in results.values())
    path = write_results(
        f"train_{profile}", {"profile": profile, "stages": results, "total_seconds": total}
    )
    table = Table(title=f"make train, {profile} profile, environment set up")
    for column in ("stage", "seconds", "peak MiB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, result in results.items():
        table.add_row(name, f"{result['seconds']:.1f}", f"{result['peak_rss_mib']:,.0f}")
    table.add_row("total", f"{total:.1f}", "")
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    typer.run(main)
