"""Shared benchmark helpers: timing a command with the peak memory of its whole process tree."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import psutil
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

# The world sizes a benchmark measures, side by side in one run.
Patients = Annotated[
    list[int] | None, typer.Option(help="world sizes to measure (default: the profile's)")
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def world_commands(data_dir: Path, profile: str, patients: int | None) -> dict[str, list[str]]:
    """The commands of ``make train``'s first three stages (generation, ETL, features) on a world
    of ``patients`` (default: the profile's) in ``data_dir``, its pseudonymisation key there."""
    size = [f"data_gen.n_patients={patients}"] if patients else []
    common = ["--profile", profile, "--data-dir", str(data_dir)]
    key = [f"features.etl.key_file={data_dir / 'pseudonym.key'}"]
    return {
        "generate": [sys.executable, "-m", "data_gen", "generate", *common, *size],
        "etl": [sys.executable, "-m", "features", "etl", *common, *key],
        "build": [sys.executable, "-m", "features", "build", *common, *key],
    }


def run_measured(command: list[str], sample_seconds: float = 0.05) -> dict[str, float]:
    """Run a command; return its wall time and the peak RSS summed over it and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(sample_seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    return {"seconds": elapsed, "peak_rss_mib": peak / 2**20}


def print_parts(
    title: str, part: str, seconds: dict[str, float], measured: dict[str, float], path: Path
) -> None:
    """A measured command's time by part (``run_measured``), its whole time and peak memory, and
    where its results went."""
    table = Table(title=title)
    table.add_column(part)
    table.add_column("seconds", justify="right")
    for name, value in seconds.items():
        table.add_row(name, f"{value:.1f}")
    table.add_row("whole command (process start included)", f"{measured['seconds']:.1f}")
    console = Console()
    console.print(table)
    console.print(f"peak memory {measured['peak_rss_mib']:,.0f} MiB; {path}")


def parquet_rows(folder: Path) -> int:
    """The rows of every Parquet file under ``folder``, from their footers."""
    files = [path for path in folder.rglob("*.parquet") if path.is_file()]
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def machine() -> dict[str, object]:
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(name: str, results: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")
    return path
