"""``make finance`` at several sizes of health system, side by side.

    python -m benchmarks.bench_finance [--patients 50000 --patients 200000]

Builds the large profile's world at each size (generation and ETL, not timed), then runs the two
finance commands, each in its own process, with its wall time and the peak memory of its process
tree: ``readmissions`` (the HRRP cohorts partition by partition, one hierarchical model per
condition, the penalty) and ``forecast`` (the backtest of every facility's revenue, cost and margin
from every origin of the second year). Ratios are against the first size.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import Patients, parquet_rows, run_measured, world_commands, write_results

console = Console()
app = typer.Typer(add_completion=False)
COMMANDS = ("readmissions", "forecast")


@app.command()
def main(patients: Patients = None) -> None:
    """Both finance commands on worlds of each size."""
    sizes = patients or [50_000, 200_000]
    Path("data").mkdir(exist_ok=True)
    runs = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-finance-", dir="data") as tmp:
            data = Path(tmp).resolve()
            commands = world_commands(data, "large", size)
            for step in ("generate", "etl"):
                run_measured(commands[step])
            run = {"patients": size, "stays": parquet_rows(data / "clean" / "encounters.parquet")}
            for name in COMMANDS:
                tables = f"finance.tables_dir={data / 'finance'}"
                command = [sys.executable, "-m", "finance", name, "--profile", "large",
                           "--data-dir", str(data), tables]  # fmt: skip
                run[name] = run_measured(command)
            runs.append(run)
    first = runs[0]
    for run in runs:
        run["stays_vs_first"] = run["stays"] / first["stays"]
        for name in COMMANDS:
            run[name]["seconds_vs_first"] = run[name]["seconds"] / first[name]["seconds"]
            run[name]["memory_vs_first"] = run[name]["peak_rss_mib"] / first[name]["peak_rss_mib"]
    path = write_results("finance", {"runs": runs})
    table = Table(title="make finance by world size")
    for column in ("patients", "stays", "command", "seconds", "peak MiB", "time x", "memory x"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for run in runs:
        for name in COMMANDS:
            m = run[name]
            table.add_row(
                f"{run['patients']:,}", f"{run['stays']:,}", name, f"{m['seconds']:.1f}",
                f"{m['peak_rss_mib']:,.0f}", f"{m['seconds_vs_first']:.2f}",
                f"{m['memory_vs_first']:.2f}",
            )  # fmt: skip
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    app()
