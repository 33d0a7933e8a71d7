"""Serving benchmark: the risk service against ``mlflow models serve`` on the same champion.

    python -m benchmarks.bench_serving [--seconds 10]      # after `make train`

A bounded load on 127.0.0.1 only: one discharge case per request (a whole stay, the richest
request; the endpoint of the first task declared on that case type) at 1, 16 and 64 concurrent
clients, without and with explanations; the same champion behind ``mlflow models serve`` with
as many worker processes (features precomputed, as a user of that server would send them); one
batch of 1,000 cases; and ``POST /medications/check`` with a 20-drug list (19 active medicines and
a new order, drawn from the formulary) at the same client counts. Reports throughput, p50, p99
and errors, side by side, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import aiohttp
import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import registry
from benchmarks.common import write_results
from configs import load_settings, vocabulary
from features import build
from serving import examples

console = Console()
CASE = "discharge"  # the endpoint measured takes whole stays, the richest requests
CLIENTS = (1, 16, 64)
RAMP_S = 0.02  # between the first requests of successive clients
MEDICATION_LIST = 20  # drugs in each medication check: the active list and the new order


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command: list[str], ready_url: str, log: Path, tracking_uri: str) -> subprocess.Popen:
    # The servers' own launchers look for uvicorn and friends on PATH: put this environment first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, registry.TRACKING_URI_ENV: tracking_uri}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(ready_url, timeout=2).status == 200:
                return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"{command[:4]} did not start: {log.read_text()[-2000:]}")


async def _load(url: str, bodies: list[bytes], clients: int, seconds: float, headers: dict) -> dict:
    """``clients`` workers, each on its own connection, post bodies in turn until the time is up;
    latencies in ms. aiohttp, a light client: on two cores the load generator shares the CPU with
    the server, and a heavier client would measure itself."""
    latencies, errors, stop = [], 0, time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(offset: int) -> None:
            nonlocal errors
            # Clients arrive over a short ramp, as a load tool's spawn rate has them, rather than
            # in one burst that a single server process would accept whole.
            await asyncio.sleep(offset * RAMP_S)
            index = offset
            while time.perf_counter() < stop:
                started = time.perf_counter()
                async with session.post(
                    url, data=bodies[index % len(bodies)], headers=headers
                ) as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append((time.perf_counter() - started) * 1000)
                index += clients

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    values = np.array(latencies)
    return {
        "clients": clients,
        "requests": len(values),
        "requests_per_s": len(values) / elapsed,
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "errors": int(errors),
    }


def medication_checks(settings, n: int = 200, seed: int = 0) -> list[bytes]:
    """``n`` medication-check bodies of MEDICATION_LIST distinct drugs at their usual doses."""
    rng = np.random.default_rng(seed)
    formulary = list(settings.data_gen.medications.formulary.values())
    bodies = []
    for _ in range(n):
        drugs = [formulary[i] for i in rng.choice(len(formulary), MEDICATION_LIST, replace=False)]
        orders = [{"rxnorm_code": d.rxcui, "dose": d.doses[0]} for d in drugs]
        bodies.append(json.dumps({"active": orders[:-1], "new": orders[-1]}).encode())
    return bodies


def main(seconds: Annotated[float, typer.Option(help="load duration per setting")] = 10.0) -> None:
    settings = load_settings()
    task = next((t for t in settings.task_names if settings.tasks[t].case == CASE), None)
    if task is None:
        raise SystemExit(f"no task in configs/tasks/ takes {CASE} cases")
    data = Path("data")
    table_path = data / "features" / f"{settings.tasks[task].table}.parquet"
    try:
        features = registry.load_champion(settings, task).model.features
    except registry.ChampionNotFoundError as error:
        raise SystemExit(f"the benchmark serves the trained champions: {error}") from None
    if not table_path.exists():
        raise SystemExit(f"no {table_path}: run `make train` first")
    clean = {p.stem: pd.read_parquet(p) for p in (data / "clean").glob("*.parquet")}
    admission = build.admission_cases(clean, settings.features)
    discharge = build.discharge_cases(clean, admission)
    discharge = discharge[discharge["discharge_disposition"] != vocabulary.EXPIRED].head(2000)
    cases = [examples.discharge_request(row) for _, row in discharge.iterrows()]
    plain = [json.dumps({"cases": [c]}).encode() for c in cases[:500]]
    explained = [json.dumps({"cases": [c], "explain": True}).encode() for c in cases[:500]]
    table = pd.read_parquet(table_path).head(500)
    split = [
        json.dumps({"dataframe_split": {"columns": features, "data": [row]}}).encode()
        for row in table[features]
        .astype(float)
        .where(table[features].notna(), None)
        .to_numpy()
        .tolist()
    ]

    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    bento_port, mlflow_port = _port(), _port()
    env_key = settings.serving.api_key_env
    headers = {"content-type": "application/json"}
    if os.environ.get(env_key):
        headers["authorization"] = f"Bearer {os.environ[env_key]}"
    bento = _start(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "serving.service:RiskService",
            "--host",
            "127.0.0.1",
            "-p",
            str(bento_port),
        ],
        f"http://127.0.0.1:{bento_port}/readyz",
        logs / "bench-bento.log",
        registry.tracking_uri(settings),
    )
    results: dict = {"task": task, "seconds_per_setting": seconds}
    try:
        url = f"http://127.0.0.1:{bento_port}/{task}"
        results["bentoml"] = [asyncio.run(_load(url, plain, n, seconds, headers)) for n in CLIENTS]
        results["bentoml_explained"] = [
            asyncio.run(_load(url, explained, n, seconds, headers)) for n in CLIENTS
        ]
        checks = medication_checks(settings)
        results["medications_check"] = [
            asyncio.run(
                _load(
                    f"http://127.0.0.1:{bento_port}/medications/check", checks, n, seconds, headers
                )
            )
            for n in CLIENTS
        ]
        batch = json.dumps({"cases": (cases * 1000)[:1000]}).encode()
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            request = urllib.request.Request(url, data=batch, headers=headers)
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            timings.append((time.perf_counter() - started) * 1000)
        results["batch_1000_ms"] = {
            "median": float(np.median(timings)),
            "best": float(min(timings)),
        }
    finally:
        bento.terminate()
        bento.wait(timeout=30)
    server = _start(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            registry.champion_uri(settings, task),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(mlflow_port),
            "--workers",
            str(settings.serving.processes),
        ],
        f"http://127.0.0.1:{mlflow_port}/ping",
        logs / "bench-mlflow.log",
        registry.tracking_uri(settings),
    )
    try:
        url = f"http://127.0.0.1:{mlflow_port}/invocations"
        results["mlflow_models_serve"] = [
            asyncio.run(_load(url, split, n, seconds, {"content-type": "application/json"}))
            for n in CLIENTS
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    sixteen = {
        k: next(r for r in v if r["clients"] == 16)
        for k, v in results.items()
        if isinstance(v, list)
    }
    results["throughput_ratio_at_16_clients"] = (
        sixteen["bentoml"]["requests_per_s"] / sixteen["mlflow_models_serve"]["requests_per_s"]
    )
    path = write_results("serving", results)

    out = Table(title=f"/{task}, one case per request, {seconds:g} s per setting")
    for column in ("server", "clients", "req/s", "p50 ms", "p99 ms", "errors"):
        out.add_column(column, justify="left" if column == "server" else "right")
    for server_name in ("bentoml", "bentoml_explained", "mlflow_models_serve", "medications_check"):
        for r in results[server_name]:
            out.add_row(
                server_name,
                str(r["clients"]),
                f"{r['requests_per_s']:,.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                str(r["errors"]),
            )
    console.print(out)
    ratio = results["throughput_ratio_at_16_clients"]
    console.print(
        f"batch of 1,000 cases: {results['batch_1000_ms']['median']:.0f} ms (median of 5); "
        f"throughput against mlflow models serve at 16 clients: {ratio:.1f}x; {path}"
    )


if __name__ == "__main__":
    typer.run(main)
