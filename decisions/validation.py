"""Prospective validation: each champion on the period none of them has seen
(``decisions.period_scenario``: new stays of the same world, tens of thousands), against the
world's truth.

The test split of ``make train`` holds a few thousand rows per stay-level task, too few to tell
one share of the ceiling from another (a readmission AUROC's interval is about +-0.027 there).
Here every task gets its metrics with bootstrap intervals, the share of the oracle's lift with its
interval, the smoothed calibration (ICI, E90) overall and per subgroup, and, for binary tasks, its
decision curve (the clinical scores made risks on the development validation split); then each
model goal is judged: met when the whole interval lies above it, missed when below, undecided
otherwise. Everything is logged to the champion's own MLflow run (``prospective_*`` metrics and
``prospective/`` artifacts), beside the test split's figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric

import registry
from configs import Settings
from decisions import RISK, DecisionError, period_rows
from features import partitions
from training import evaluate


@dataclass
class Validation:
    """One champion on the prospective period."""

    task: str
    rows: int
    first: str  # the first and last prediction dates of the rows judged
    last: str
    performance: evaluate.Performance
    baselines: dict[str, float]
    subgroups: pd.DataFrame
    curve: pd.DataFrame | None = None
    gains: dict[str, tuple[float, float, float]] | None = None
    best_share: float | None = None

    def goal(self, goal: float | None) -> dict[str, object]:
        """The task's goal (``ceiling_goal``), and whether the share's interval says it is met."""
        low, high = self.performance.share_interval
        verdict = (
            "no goal"
            if goal is None
            else "met"
            if low >= goal
            else "missed"
            if high < goal
            else "undecided"
        )
        return {"goal": goal, "verdict": verdict}


def development_validation(settings: Settings, task: str, data_dir: Path) -> pd.DataFrame:
    """The development validation split of a task's feature table (what the clinical scores are
    made risks on)."""
    path = data_dir / "features" / f"{settings.tasks[task].table}.parquet"
    if not path.exists():
        raise DecisionError(f"no feature table {path}: run `make train` first")
    config = settings.tasks[task]
    return partitions.read_sample(
        path,
        settings.training.scale.validation_rows,
        settings.training.seed,
        partitions.split_is("validation"),
        columns=[config.target, *config.baselines],
    )


def validate(
    settings: Settings, task: str, rows: pd.DataFrame, fit_rows: pd.DataFrame | None
) -> Validation:
    """One champion's figures on the period's rows (a seeded sample of ``validation_rows``)."""
    config, t = settings.tasks[task], settings.training
    cap = settings.decisions.validation_rows
    if len(rows) > cap:
        rows = rows.sample(cap, random_state=t.seed).reset_index(drop=True)
    y = rows[config.target].to_numpy(dtype=float)
    prediction = rows[RISK].to_numpy(dtype=float)
    performance = evaluate.performance(
        y,
        prediction,
        rows[config.oracle].to_numpy(dtype=float),
        config,
        t.calibration_bins,
        t.bootstrap_resamples,
        t.seed,
    )
    baselines = evaluate.baseline_values(config, y, rows)
    groups = rows[[c for c in rows.columns if c.startswith("group_")]]
    dates = rows["prediction_time"]
    validation = Validation(
        task,
        len(rows),
        f"{dates.min():%Y-%m-%d}",
        f"{dates.max():%Y-%m-%d}",
        performance,
        baselines,
        evaluate.subgroups(y, prediction, groups, config.kind),
    )
    if config.kind == "binary" and fit_rows is not None:
        validation.curve, validation.gains, validation.best_share = evaluate.task_decision_curve(
            config, fit_rows, rows, prediction, t.bootstrap_resamples, t.seed
        )
    return validation


def summary_row(validation: Validation, settings: Settings) -> dict[str, object]:
    """The validation's headline: metric, share of the ceiling with intervals, the goal."""
    config = settings.tasks[validation.task]
    p = validation.performance
    value, low, high = p.metrics[config.metric]
    row = {
        "task": validation.task,
        "scenario": settings.decisions.period_scenario,
        "first": validation.first,
        "last": validation.last,
        "rows": validation.rows,
        "metric": config.metric,
        "value": value,
        "low": low,
        "high": high,
        "half_width": (high - low) / 2,
        "oracle": p.oracle[config.metric],
        "lift": p.lift,
        "ceiling_share": p.share,
        "ceiling_share_low": p.share_interval[0],
        "ceiling_share_high": p.share_interval[1],
        **validation.goal(config.ceiling_goal),
        **{f"baseline_{b}": v for b, v in validation.baselines.items()},
    }
    for name in ("ici", "e90", "calibration_slope", "calibration_intercept"):
        if name in p.metrics:
            row[name] = p.metrics[name][0]
    return row


def log_to_champion(settings: Settings, validation: Validation) -> str:
    """The validation's metrics and tables on the champion's MLflow run; its run id."""
    champion = registry.champion_version(settings, validation.task)
    p = validation.performance
    metrics = {
        registry.prospective_metric(name, bound): value
        for name, values in p.metrics.items()
        for bound, value in zip(("", "low", "high"), values, strict=True)
    }
    if p.share is not None:
        share = registry.prospective_metric(registry.ceiling_fraction(p.lift))
        metrics |= {
            share: p.share,
            f"{share}_low": p.share_interval[0],
            f"{share}_high": p.share_interval[1],
        }
    metrics[registry.prospective_metric("rows")] = float(validation.rows)
    for baseline, gain in (validation.gains or {}).items():
        for bound, value in zip(("", "low", "high"), gain, strict=True):
            metrics[registry.prospective_metric(registry.net_benefit_gain(baseline), bound)] = value
    client, run_id, now = registry.connect(settings), champion.run_id, int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items() if np.isfinite(v)],
    )
    client.log_table(run_id, validation.subgroups, f"{registry.PROSPECTIVE}/subgroups.json")
    if validation.curve is not None:
        client.log_table(run_id, validation.curve, f"{registry.PROSPECTIVE}/decision_curve.json")
    client.log_dict(
        run_id, summary_row(validation, settings), f"{registry.PROSPECTIVE}/summary.json"
    )
    return run_id


def load(settings: Settings, task: str, data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A task's period rows with the champion's risk, and the rows its scores are fitted on."""
    rows = period_rows(settings, task, data_dir)
    binary = settings.tasks[task].kind == "binary"
    return rows, development_validation(settings, task, data_dir) if binary else None
