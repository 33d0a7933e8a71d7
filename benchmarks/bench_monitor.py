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

import registry
from benchmarks.common import print_parts, run_measured, write_results
from configs import load_settings

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
    title = f"make monitor, scenario {scenario} ({settings.profile} profile)"
    print_parts(title, "part", parts, measured, path)


if __name__ == "__main__":
    typer.run(main)
