"""ETL and feature benchmark on one profile: time, rows per second and peak memory per step.

    python -m benchmarks.bench_features [--profile default]

Generates the profile's world if needed (not timed), then runs ``python -m features etl`` and
``python -m features build`` as a user would, each in its own process.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import run_measured, write_results

console = Console()


def _rows(folder: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in folder.glob("*.parquet"))


def main(profile: Annotated[str, typer.Option(help="configuration profile")] = "default") -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-features-{profile}-") as tmp:
        data = Path(tmp)
        common = ["--profile", profile, "--data-dir", str(data)]
        run_measured([sys.executable, "-m", "data_gen", "generate", *common])
        # Keep the benchmark's key out of the repository.
        key = [f"features.etl.key_file={data / 'pseudonym.key'}"]
        etl = run_measured([sys.executable, "-m", "features", "etl", *common, *key])
        build = run_measured([sys.executable, "-m", "features", "build", *common, *key])
        raw_rows, clean_rows = _rows(data / "raw"), _rows(data / "clean")
        feature_rows = _rows(data / "features")
        manifest = json.loads((data / "features" / "manifest.json").read_text())
    results = {
        "profile": profile,
        "etl": {**etl, "raw_rows": raw_rows, "rows_per_s": raw_rows / etl["seconds"]},
        "build": {
            **build,
            "clean_rows": clean_rows,
            "feature_rows": feature_rows,
            "clean_rows_per_s": clean_rows / build["seconds"],
            "rows_by_task": {task: sum(entry["rows"].values()) for task, entry in manifest.items()},
        },
    }
    path = write_results(f"features_{profile}", results)
    table = Table(title=f"ETL and features, {profile} profile")
    for column in ("step", "seconds", "rows in", "rows/s", "peak MiB"):
        table.add_column(column, justify="left" if column == "step" else "right")
    table.add_row(
        "etl",
        f"{etl['seconds']:.1f}",
        f"{raw_rows:,}",
        f"{raw_rows / etl['seconds']:,.0f}",
        f"{etl['peak_rss_mib']:,.0f}",
    )
    table.add_row(
        "build",
        f"{build['seconds']:.1f}",
        f"{clean_rows:,}",
        f"{clean_rows / build['seconds']:,.0f}",
        f"{build['peak_rss_mib']:,.0f}",
    )
    console.print(table)
    console.print(f"feature rows: {results['build']['rows_by_task']}; results: {path}")


if __name__ == "__main__":
    typer.run(main)
