"""Notebooks benchmark: ``python -m notebooks run`` on the current outputs, as ``make notebooks``
runs it, with each notebook's time and the peak memory of the whole process tree (its kernels
included).

    python -m benchmarks.bench_notebooks      # after make train, make monitor and make decisions

Each notebook's seconds come from the run's own ``timings.json`` (kernel start to last cell,
and the HTML page). Goal: the four under 5 minutes on 2 cores on the default profile.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import run_measured, write_results
from configs import load_settings

console = Console()
GOAL_SECONDS = 300


def main() -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as folder:
        measured = run_measured([sys.executable, "-m", "notebooks", "run", "--output-dir", folder])
        timings = json.loads((Path(folder) / "timings.json").read_text())
    seconds = {name: entry["seconds"] for name, entry in timings.items()}
    results = {
        "profile": settings.profile,
        "patients": settings.data_gen.n_patients,
        **measured,
        "notebook_seconds": seconds,
        "goal_seconds": GOAL_SECONDS,
        "within_goal": measured["seconds"] < GOAL_SECONDS,
    }
    path = write_results(f"notebooks_{settings.profile}", results)
    table = Table(title=f"make notebooks ({settings.profile} profile)")
    table.add_column("notebook")
    table.add_column("seconds", justify="right")
    for name, value in seconds.items():
        table.add_row(name, f"{value:.1f}")
    table.add_row("whole command (process start included)", f"{measured['seconds']:.1f}")
    console.print(table)
    console.print(f"peak memory {measured['peak_rss_mib']:,.0f} MiB; {path}")


if __name__ == "__main__":
    main()
