"""Fitting a booster on a ward table too large to hold whole: three ways, side by side in one run.

    python -m benchmarks.bench_boosters main [--patients 1000000] [--rounds 100]

Builds the large profile's world at the given size (not timed), then fits the same XGBoost model
(the same parameters, a fixed number of rounds, on the deterioration table's training split) three
ways, each in its own process, with its wall time, the peak memory of its process tree (Dask's
workers included) and the AUROC on a seeded sample of the validation split:

- ``in_memory``: the whole table read with pandas, a ``DMatrix`` (what training does below
  ``training.scale.in_memory_rows``);
- ``quantised``: the feature columns streamed part by part into float32, a ``QuantileDMatrix``
  (what training does above it);
- ``dask``: ``xgboost.dask`` on a ``LocalCluster`` of one single-threaded worker per core, the
  part files read by Dask (what a cluster would run).
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
from rich.console import Console
from rich.table import Table

from benchmarks.common import run_measured, world_commands, write_results

console = Console()
app = typer.Typer(add_completion=False)
VARIANTS = ("in_memory", "quantised", "dask")
PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 5,
          "learning_rate": 0.1, "nthread": 2, "seed": 0}  # fmt: skip


def _features(data_dir: Path) -> tuple[Path, list[str]]:
    folder = data_dir / "features"
    roles = json.loads((folder / "manifest.json").read_text())["deterioration"]["roles"]
    return folder / "deterioration.parquet", roles["features"]


@app.command()
def fit(variant: str, data_dir: Path, rounds: int, result: Path) -> None:
    """One way of fitting (run in its own process by ``main``)."""
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    from configs import load_settings
    from features import partitions
    from training.data import load_task_data

    path, features = _features(data_dir)
    settings = load_settings("large")
    target = settings.tasks["deterioration"].target
    started = time.perf_counter()
    if variant == "in_memory":
        table = pd.read_parquet(path, columns=[*features, target, "split"])
        train = table[table["split"] == "train"]
        matrix = xgb.DMatrix(
            train[features].to_numpy(np.float32),
            label=train[target].to_numpy(),
            feature_names=features,
        )
        booster = xgb.train(PARAMS, matrix, num_boost_round=rounds)
    elif variant == "quantised":
        scale = settings.training.scale.model_copy(update={"in_memory_rows": 10_000})
        data, _ = load_task_data(data_dir, settings.tasks["deterioration"], scale, 0)
        x, y = data.rows_of(["train"])
        matrix = xgb.QuantileDMatrix(x, label=y, nthread=2, feature_names=features)
        booster = xgb.train(PARAMS, matrix, num_boost_round=rounds)
    else:
        booster = _fit_on_dask(path, features, target, rounds)
    seconds = time.perf_counter() - started
    check = partitions.read_sample(path, 200_000, 1, partitions.split_is("validation"))
    scores = booster.predict(
        xgb.DMatrix(check[features].to_numpy(np.float32), feature_names=features)
    )
    auroc = float(roc_auc_score(check[target], scores))
    result.write_text(json.dumps({"fit_seconds": seconds, "validation_auroc": auroc}))


def _fit_on_dask(path: Path, features: list[str], target: str, rounds: int):
    import dask.dataframe as dd
    import xgboost.dask as dxgb
    from distributed import Client, LocalCluster

    with (
        LocalCluster(threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        frame = dd.read_parquet(str(path / "*.parquet"), columns=[*features, target, "split"])
        # Persisted once, so that the features and the label are cut into the same partitions.
        train = client.persist(frame[frame["split"] == "train"].drop(columns="split"))
        matrix = dxgb.DaskQuantileDMatrix(
            client, train[features].astype("float32"), train[target], feature_names=features
        )
        return dxgb.train(client, {**PARAMS, "nthread": 1}, matrix, num_boost_round=rounds)[
            "booster"
        ]


@app.command()
def main(
    patients: Annotated[int, typer.Option(help="world size")] = 1_000_000,
    rounds: Annotated[int, typer.Option(help="boosting rounds")] = 100,
) -> None:
    """Every way, side by side, on one world."""
    Path("data").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-boosters-", dir="data") as tmp:
        data = Path(tmp).resolve()
        for command in world_commands(data, "large", patients).values():
            run_measured(command)
        results = {}
        for variant in VARIANTS:
            out = data / f"{variant}.json"
            command = [sys.executable, "-m", "benchmarks.bench_boosters", "fit", variant,
                       str(data), str(rounds), str(out)]  # fmt: skip
            results[variant] = {**run_measured(command), **json.loads(out.read_text())}
        rows = json.loads((data / "features" / "manifest.json").read_text())["deterioration"]
    quantised = results["quantised"]
    for measured in results.values():
        measured["seconds_vs_quantised"] = measured["seconds"] / quantised["seconds"]
        measured["memory_vs_quantised"] = measured["peak_rss_mib"] / quantised["peak_rss_mib"]
    path = write_results(
        f"boosters_{patients}",
        {"patients": patients, "rounds": rounds, "rows": rows["rows"], "variants": results},
    )
    table = Table(title=f"XGBoost, {rounds} rounds, deterioration table of {patients:,} patients")
    for column in ("way", "seconds", "fit s", "peak MiB", "time x", "memory x", "AUROC"):
        table.add_column(column, justify="left" if column == "way" else "right")
    for variant, m in results.items():
        table.add_row(
            variant, f"{m['seconds']:.0f}", f"{m['fit_seconds']:.0f}", f"{m['peak_rss_mib']:,.0f}",
            f"{m['seconds_vs_quantised']:.2f}", f"{m['memory_vs_quantised']:.2f}",
            f"{m['validation_auroc']:.4f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    app()
