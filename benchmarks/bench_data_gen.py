"""Generator benchmark: throughput and peak memory per profile; pooled vs per-row identifiers.

    python -m benchmarks.bench_data_gen [--profiles default,large] [--naive-rows 20000]

Both identifier methods run in this process, one after the other, so their ratio is meaningful on
a shared, noisy machine. Per-row Faker runs on a sample and is extrapolated (its cost is linear).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from faker import Faker
from rich.console import Console
from rich.table import Table

from benchmarks.common import run_measured, write_results
from configs import load_settings
from data_gen import identifiers

console = Console()


def naive_identifiers(n: int, seed: int) -> list[tuple[str, ...]]:
    """What a first version would do: one Faker call per field per row."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return [
        (fake.first_name(), fake.last_name(), fake.street_address(), fake.city(),
         fake.phone_number(), fake.ssn(), fake.bothify("########"))
        for _ in range(n)
    ]  # fmt: skip


def pooled_identifiers(n: int, seed: int, pools: identifiers.IdentifierPools) -> None:
    """The generator's method: Faker-built pools drawn with numpy, numeric identifiers computed."""
    rng = np.random.default_rng(seed)
    index = np.arange(1, n + 1)
    identifiers.names_and_addresses(rng, pools, rng.random(n) < 0.5)
    identifiers.phone_numbers(rng, n, ["617", "781"])
    identifiers.ssn_for(index, seed)
    identifiers.mrn_for(index, seed)


def identifier_benchmark(naive_rows: int, pooled_rows: int) -> dict[str, float]:
    """Per-row Faker on a sample (its cost is linear in rows) against pools on the full count."""
    started = time.perf_counter()
    naive_identifiers(naive_rows, seed=1)
    naive_rate = naive_rows / (time.perf_counter() - started)
    started = time.perf_counter()
    pools = identifiers.build_pools(1)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    pooled_identifiers(pooled_rows, seed=1, pools=pools)
    draw_seconds = time.perf_counter() - started
    pooled_seconds = build_seconds + draw_seconds
    return {
        "naive_rows_measured": naive_rows,
        "naive_faker_per_row_rows_per_s": naive_rate,
        "pooled_rows": pooled_rows,
        "pool_build_seconds": build_seconds,
        "pooled_draw_rows_per_s": pooled_rows / draw_seconds,
        "naive_seconds_for_pooled_rows": pooled_rows / naive_rate,
        "pooled_seconds_including_pools": pooled_seconds,
        "speedup": pooled_rows / naive_rate / pooled_seconds,
    }


def generator_benchmark(profile: str, workers: int | None) -> dict[str, object]:
    settings = load_settings(profile)
    with tempfile.TemporaryDirectory(prefix=f"bench-{profile}-") as tmp:
        command = [sys.executable, "-m", "data_gen", "generate", "--profile", profile,
                   "--data-dir", tmp, "--force"]  # fmt: skip
        if workers:
            command.append(f"workers={workers}")
        measured = run_measured(command)
        manifest = json.loads((Path(tmp) / "raw" / "manifest.json").read_text())
    rows = {name: entry["rows"] for name, entry in manifest["tables"].items()}
    raw_rows = sum(n for name, n in rows.items() if not name.startswith("oracle/"))
    patients = settings.data_gen.n_patients
    return {
        "profile": profile,
        "patients": patients,
        "workers": workers or settings.data_gen.workers,
        **measured,
        "patients_per_s": patients / measured["seconds"],
        "raw_rows_per_s": raw_rows / measured["seconds"],
        "rows": rows,
    }


def main(
    profiles: Annotated[
        str, typer.Option(help="comma-separated profiles to generate")
    ] = "default,large",
    workers: Annotated[int, typer.Option(help="override the profile's worker count (0: keep)")] = 0,
    naive_rows: Annotated[int, typer.Option(help="rows for per-row Faker (extrapolated)")] = 20_000,
    pooled_rows: Annotated[int, typer.Option(help="rows for the pooled method")] = 1_000_000,
) -> None:
    runs = [generator_benchmark(p, workers or None) for p in profiles.split(",") if p]
    ids = identifier_benchmark(naive_rows, pooled_rows)
    path = write_results("data_gen", {"generator": runs, "identifiers": ids})

    table = Table(title="data_gen benchmark")
    for column in (
        "profile",
        "patients",
        "workers",
        "seconds",
        "patients/s",
        "raw rows/s",
        "peak MiB",
    ):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run["profile"],
            f"{run['patients']:,}",
            str(run["workers"]),
            f"{run['seconds']:.1f}",
            f"{run['patients_per_s']:,.0f}",
            f"{run['raw_rows_per_s']:,.0f}",
            f"{run['peak_rss_mib']:,.0f}",
        )
    console.print(table)
    naive_rate = ids["naive_faker_per_row_rows_per_s"]
    console.print(
        f"identifiers for {ids['pooled_rows']:,} patients: Faker per row "
        f"{ids['naive_seconds_for_pooled_rows']:,.0f} s (at {naive_rate:,.0f} rows/s), "
        f"pooled {ids['pooled_seconds_including_pools']:.2f} s: {ids['speedup']:,.0f}x"
    )
    console.print(f"results: {path}")


if __name__ == "__main__":
    typer.run(main)
