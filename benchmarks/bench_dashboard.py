"""Dashboard benchmark: how long each page takes to render, first with empty caches (as the
first visitor after ``make train`` sees it) and then again (every later visit), in one process.

    python -m benchmarks.bench_dashboard      # after `make train` (and `make monitor`)

Each page runs in Streamlit's AppTest, in the order of the navigation, so a page's first render
includes loading what it is the first to need (the clean tables for the overview, the stay table
for the patients, the champions for the risk lists). The ratio first / cached is what the caches
buy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from streamlit.testing.v1 import AppTest

from benchmarks.common import write_results
from configs import load_settings

console = Console()
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = [
    "overview", "patients", "treatments", "facilities", "emergency", "quality", "risk", "finance",
    "model_health",
]  # fmt: skip


def _render(app: AppTest, page: str) -> float:
    started = time.perf_counter()
    if page == PAGES[0]:
        app.run()
    else:
        app.switch_page(f"views/{page}.py").run()
    elapsed = time.perf_counter() - started
    if app.exception:
        raise SystemExit(f"{page}: {app.exception[0].value}")
    return elapsed


def main() -> None:
    settings = load_settings()
    if not Path("data/clean/encounters.parquet").exists():
        raise SystemExit("run `make train` first: the benchmark renders its outputs")
    sys.argv = [str(APP)]
    app = AppTest.from_file(str(APP), default_timeout=600)
    first = {page: _render(app, page) for page in PAGES}
    cached = {page: _render(app, page) for page in PAGES}
    results = {
        "profile": settings.profile,
        "patients": settings.data_gen.n_patients,
        "first_seconds": first,
        "cached_seconds": cached,
        "first_over_cached": {page: first[page] / cached[page] for page in PAGES},
    }
    path = write_results("dashboard", results)
    table = Table(title=f"Dashboard pages, render time ({settings.profile} profile)")
    for column in ("page", "first (s)", "cached (s)", "ratio"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for page in PAGES:
        table.add_row(
            page, f"{first[page]:.2f}", f"{cached[page]:.2f}", f"{first[page] / cached[page]:.0f}x"
        )
    console.print(table)
    console.print(str(path))


if __name__ == "__main__":
    main()
