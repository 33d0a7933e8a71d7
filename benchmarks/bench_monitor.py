"""Monitoring benchmark: ``python -m monitoring run`` on the trained champions, as ``make
monitor`` runs it, with the time of each part and the peak memory of the whole process tree.

    python -m benchmarks.bench_monitor [--scenario none]      # after `make train`

The parts (the next period's generation, ETL and features; drift and performance per task; the
KPI tables) come from the run's own ``timings.json``. Goal: under 2 minutes on 2 cores for a
50,000-patient period.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import registry
from benchmarks.common import run_measured, write_results
from configs import load_settings

console = Console()
RUN = "bench-monitor"


def main(scenario: Annotated[str, typer.Option(help="next-period scenario")] = "none") -> None:
    settings = load_settings()
    for task in settings.task_names:
        try:
            registry.champion_version(settings, task)
        except registry.ChampionNotFoundError as error:
            raise SystemExit(f"the benchmark monitors the trained champions: {error}") from None
    run = f"{RUN}-{scenario}"
    measured = run_measured(
        [sys.executable, "-m", "monitoring", "run", "--run", run, f"scenario={scenario}"]
    )
    folder = Path(settings.monitoring.reports_dir) / run
    parts = json.loads((folder / "timings.json").read_text())
    results = {
        "profile": settings.profile,
        "scenario": scenario,
        "patients": settings.data_gen.n_patients,
        "period_months": settings.data_gen.next_period.months,
        **measured,
        "parts_seconds": parts,
        "goal_seconds": 120,
        "within_goal": measured["seconds"] < 120,
    }
    path = write_results(f"monitor_{scenario}", results)
    table = Table(title=f"make monitor, scenario {scenario} ({settings.profile} profile)")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    for part, seconds in parts.items():
        table.add_row(part, f"{seconds:.1f}")
    table.add_row("whole command (process start included)", f"{measured['seconds']:.1f}")
    console.print(table)
    console.print(f"peak memory {measured['peak_rss_mib']:,.0f} MiB; {path}")


if __name__ == "__main__":
    typer.run(main)
