"""The KPI tables of a health system, on DuckDB out of core and on PostgreSQL, side by side.

    python -m benchmarks.bench_kpis main [--patients 1000000] [--postgres-url postgresql://...]

Builds the large profile's world at the given size (generation and ETL, not timed), then computes
every KPI table from its clean tables two ways, each in its own process, with its wall time and the
peak memory of its process tree (Dask's workers for the case mix included):

- ``duckdb``: views over the clean tables' part files, read out of core (what ``make monitor``
  runs);
- ``postgresql``: the clean tables copied into a scratch schema part file by part file, then the
  same SQL there (``monitoring.kpis.postgres_url``); the schema is dropped afterwards.

The two results must agree table by table (relative tolerance 1e-9), as the tests check on the
small profile.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import parquet_rows, run_measured, world_commands, write_results

console = Console()
app = typer.Typer(add_completion=False)
SCHEMA = "bench_kpis"


@app.command()
def compute(engine_name: str, data_dir: Path, postgres_url: str, out: Path) -> None:
    """One engine's KPI tables (run in its own process by ``main``)."""
    from configs import load_settings
    from monitoring import kpis

    started = time.perf_counter()
    tables = kpis.load_tables(data_dir / "clean", load_settings("large"))
    loaded = time.perf_counter() - started
    if engine_name == "duckdb":
        results = kpis.run_duckdb(tables)
    else:
        results = kpis.run_postgres(tables, postgres_url, SCHEMA)
        _drop_schema(postgres_url)
    out.mkdir()
    for name, table in results.items():
        table.to_parquet(out / f"{name}.parquet")
    timing = {"helper_tables_seconds": loaded, "kpi_seconds": time.perf_counter() - started}
    (out / "timing.json").write_text(json.dumps(timing))


def _drop_schema(url: str) -> None:
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def _differences(left: Path, right: Path) -> list[str]:
    """The KPI tables on which two engines' results differ."""
    differing = []
    for path in sorted(left.glob("*.parquet")):
        try:
            pd.testing.assert_frame_equal(
                pd.read_parquet(path), pd.read_parquet(right / path.name), rtol=1e-9
            )
        except AssertionError:
            differing.append(path.stem)
    return differing


@app.command()
def main(
    patients: Annotated[int, typer.Option(help="world size")] = 1_000_000,
    postgres_url: Annotated[
        str, typer.Option(help="the PostgreSQL database to copy the clean tables into")
    ] = "postgresql://postgres@127.0.0.1:5432/test",
) -> None:
    """Both engines, side by side, on one world."""
    Path("data").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-kpis-", dir="data") as tmp:
        data = Path(tmp).resolve()
        commands = world_commands(data, "large", patients)
        for step in ("generate", "etl"):
            run_measured(commands[step])
        results = {}
        for engine_name in ("duckdb", "postgresql"):
            out = data / f"kpis-{engine_name}"
            command = [sys.executable, "-m", "benchmarks.bench_kpis", "compute", engine_name,
                       str(data), postgres_url, str(out)]  # fmt: skip
            measured = run_measured(command)
            results[engine_name] = measured | json.loads((out / "timing.json").read_text())
        differing = _differences(data / "kpis-duckdb", data / "kpis-postgresql")
        stays = parquet_rows(data / "clean" / "encounters.parquet")
    duckdb = results["duckdb"]
    for measured in results.values():
        measured["seconds_vs_duckdb"] = measured["seconds"] / duckdb["seconds"]
        measured["memory_vs_duckdb"] = measured["peak_rss_mib"] / duckdb["peak_rss_mib"]
    path = write_results(
        f"kpis_{patients}",
        {"patients": patients, "stays": stays, "engines": results, "tables_differing": differing},
    )
    table = Table(title=f"KPI tables, {patients:,} patients ({stays:,} stays)")
    for column in ("engine", "seconds", "peak MiB", "time x", "memory x"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for engine_name, m in results.items():
        table.add_row(
            engine_name, f"{m['seconds']:.0f}", f"{m['peak_rss_mib']:,.0f}",
            f"{m['seconds_vs_duckdb']:.2f}", f"{m['memory_vs_duckdb']:.2f}",
        )  # fmt: skip
    console.print(table)
    agreement = "agree on every table" if not differing else f"differ on {', '.join(differing)}"
    console.print(f"the engines {agreement}; results: {path}")


if __name__ == "__main__":
    app()
