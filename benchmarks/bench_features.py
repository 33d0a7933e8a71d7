"""Generation, ETL and feature build on one profile: time, rows per second and peak memory of each
step's whole process tree (the engine's worker processes included).

    python -m benchmarks.bench_features [--profile default] [--patients N ...]

Each step runs as a user would run it (``python -m data_gen generate``, ``python -m features etl``,
``python -m features build``), in its own process, in a temporary data folder. With several
``--patients`` the same profile is measured at each size, side by side in one run, with the time
per patient of each size against the smallest (scaling) and the peak memory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    Patients,
    parquet_rows,
    run_measured,
    world_commands,
    write_results,
)

console = Console()
STEPS = ("generate", "etl", "build")


def measure(profile: str, patients: int | None) -> dict:
    """Every step on one world; the data folder is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"bench-features-{profile}-", dir="data") as tmp:
        data = Path(tmp)
        commands = world_commands(data, profile, patients)
        steps = {step: run_measured(command) for step, command in commands.items()}
        steps["generate"]["rows_out"] = parquet_rows(data / "raw")
        steps["etl"]["rows_out"] = parquet_rows(data / "clean")
        steps["build"]["rows_out"] = parquet_rows(data / "features")
        manifest = json.loads((data / "features" / "manifest.json").read_text())
        n_patients = pq.ParquetFile(data / "raw" / "patients.parquet").metadata.num_rows
    return {
        "patients": n_patients,
        "steps": steps,
        "seconds": sum(step["seconds"] for step in steps.values()),
        "peak_rss_mib": max(step["peak_rss_mib"] for step in steps.values()),
        "rows_by_task": {task: sum(entry["rows"].values()) for task, entry in manifest.items()},
    }


def main(
    profile: Annotated[str, typer.Option(help="configuration profile")] = "default",
    patients: Patients = None,
) -> None:
    Path("data").mkdir(exist_ok=True)
    runs = [measure(profile, n) for n in patients or [None]]
    smallest = runs[0]
    for run in runs:
        # Time per patient against the smallest world's: 1.0 is linear scaling.
        run["scaling_vs_smallest"] = (run["seconds"] / run["patients"]) / (
            smallest["seconds"] / smallest["patients"]
        )
    name = f"features_{profile}" + "".join(f"_{r['patients']}" for r in runs) * bool(patients)
    path = write_results(name, {"profile": profile, "runs": runs})
    table = Table(title=f"Generation, ETL and features, {profile} profile")
    for column in ("patients", "step", "seconds", "rows out", "peak MiB", "scaling"):
        table.add_column(column, justify="right")
    for run in runs:
        for step in STEPS:
            measured = run["steps"][step]
            table.add_row(
                f"{run['patients']:,}", step, f"{measured['seconds']:.1f}",
                f"{measured['rows_out']:,}", f"{measured['peak_rss_mib']:,.0f}", "",
            )  # fmt: skip
        table.add_row(
            f"{run['patients']:,}", "all", f"{run['seconds']:.1f}", "",
            f"{run['peak_rss_mib']:,.0f}", f"{run['scaling_vs_smallest']:.2f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    typer.run(main)
