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

from benchmarks.common import print_parts, run_measured, write_results
from configs import load_settings

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
    print_parts(f"make notebooks ({settings.profile} profile)", "notebook", seconds, measured, path)


if __name__ == "__main__":
    main()
