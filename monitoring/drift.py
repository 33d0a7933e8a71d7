"""Drift and performance of each champion model between its reference (the training period's test
split) and current data (a generated next period, or the server's audit log), with Evidently.

Per task: an Evidently report (data drift on the model's features and its prediction, and the
classification or regression quality where current labels exist, tests included) as HTML and
JSON, and a ``TaskDrift`` summary with a verdict (ok / warn / alert) from the thresholds in
``configs/monitoring.yaml``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score, root_mean_squared_error

from configs import Settings
from configs.monitoring import DriftConfig
from configs.training import GREATER_IS_BETTER, TaskConfig
from features import partitions

PREDICTION = "prediction"
TARGET = "target"
VERDICTS = ("ok", "warn", "alert")


@dataclass
class TaskDrift:
    """What a reviewer needs first: what drifted, how the model fares, and the verdict."""

    task: str
    model: str
    reference_rows: int
    current_rows: int
    labelled_rows: int
    drifted_features: list[str]
    drift_share: float
    prediction_drift: bool
    metric: str
    reference_value: float | None
    current_value: float | None
    verdict: str = "ok"
    reasons: list[str] = field(default_factory=list)

    @property
    def metric_change(self) -> float | None:
        if self.reference_value is None or self.current_value is None:
            return None
        return self.current_value - self.reference_value

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"metric_change": self.metric_change}


def metric_value(metric: str, labels: np.ndarray, predictions: np.ndarray) -> float | None:
    """The task's main metric, or None when the labels cannot support it."""
    if len(labels) == 0 or (metric == "auroc" and len(np.unique(labels)) < 2):
        return None
    scorers = {
        "auroc": roc_auc_score,
        "rmse": root_mean_squared_error,
        "mae": mean_absolute_error,
        "r2": r2_score,
        "brier": lambda y, p: float(np.mean((p - y) ** 2)),
    }
    if metric not in scorers:
        raise ValueError(f"no monitoring metric for {metric!r}")
    return float(scorers[metric](labels, predictions))


def verdict(summary: TaskDrift, config: DriftConfig) -> tuple[str, list[str]]:
    """ok, warn or alert, and why, from the share of drifted features, the prediction's drift and
    the change in the main metric (in the direction that makes it worse)."""
    level, reasons = 0, []

    def raise_to(new: int, reason: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(reason)

    share = summary.drift_share
    if share >= config.alert_drift_share:
        raise_to(2, f"{share:.0%} of features drifted (alert at {config.alert_drift_share:.0%})")
    elif share >= config.warn_drift_share:
        raise_to(1, f"{share:.0%} of features drifted (warn at {config.warn_drift_share:.0%})")
    if summary.prediction_drift:
        raise_to(1, "the prediction's distribution drifted")
    change = summary.metric_change
    if change is not None:
        worse = -change if summary.metric in GREATER_IS_BETTER else change
        relative = worse / abs(summary.reference_value) if summary.reference_value else 0.0
        if relative >= config.alert_metric_loss:
            raise_to(2, f"{summary.metric} worse by {relative:.1%} (alert at "
                        f"{config.alert_metric_loss:.0%})")  # fmt: skip
        elif relative >= config.warn_metric_loss:
            raise_to(1, f"{summary.metric} worse by {relative:.1%} (warn at "
                        f"{config.warn_metric_loss:.0%})")  # fmt: skip
    return VERDICTS[level], reasons


def compare(
    task: str,
    task_config: TaskConfig,
    model: Any,
    model_name: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig,
) -> tuple[dict[str, Any], TaskDrift]:
    """Evidently snapshots (``drift`` on every row; ``performance`` on the labelled rows, when
    there are enough) and the summary for one task. ``reference`` and ``current`` hold the
    model's features and, where known, the label (``task_config.target``)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    features = list(model.features)
    frames = {}
    for name, table in (("reference", reference), ("current", current)):
        frame = table[features].astype("float64")
        frame[PREDICTION] = model.predict(None, table[features])
        frame[TARGET] = table[task_config.target].to_numpy(dtype="float64")
        frames[name] = frame
    labelled = {name: frame[frame[TARGET].notna()] for name, frame in frames.items()}
    binary = task_config.kind == "binary"
    columns = [*features, PREDICTION]
    reference_values = frames["reference"][features]
    binary_columns = [c for c in features if reference_values[c].dropna().isin([0.0, 1.0]).all()]
    runs = {
        "drift": (
            DataDriftPreset(
                columns=columns,
                method=config.method,
                threshold=config.threshold,
                per_column_method=dict.fromkeys(binary_columns, config.binary_method),
                per_column_threshold=dict.fromkeys(binary_columns, config.binary_threshold),
                drift_share=config.alert_drift_share,
            ),
            DataDefinition(numerical_columns=columns),
            frames,
        )
    }
    if len(labelled["current"]) >= config.min_labelled_rows:
        outcome = (
            {"classification": [BinaryClassification(target=TARGET, prediction_probas=PREDICTION)]}
            if binary
            else {"regression": [Regression(target=TARGET, prediction=PREDICTION)]}
        )
        runs["performance"] = (
            ClassificationPreset() if binary else RegressionPreset(),
            DataDefinition(numerical_columns=columns, **outcome),
            {
                name: frame.assign(**{TARGET: frame[TARGET].astype("int64")}) if binary else frame
                for name, frame in labelled.items()
            },
        )
    snapshots = {}
    with warnings.catch_warnings():
        # Constant one-hot columns (a level absent from a period) make some tests divide by zero,
        # and single-row groups make some regression figures undefined: Evidently reports both.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for kind, (preset, definition, data) in runs.items():
            snapshots[kind] = Report([preset], include_tests=True).run(
                current_data=Dataset.from_pandas(data["current"], data_definition=definition),
                reference_data=Dataset.from_pandas(data["reference"], data_definition=definition),
            )
    drift = drift_results(snapshots["drift"].dict())
    summary = TaskDrift(
        task=task,
        model=model_name,
        reference_rows=len(reference),
        current_rows=len(current),
        labelled_rows=len(labelled["current"]),
        drifted_features=[c for c in features if drift.get(c, False)],
        drift_share=float(np.mean([drift.get(c, False) for c in features])),
        prediction_drift=bool(drift.get(PREDICTION, False)),
        metric=task_config.metric,
        reference_value=metric_value(
            task_config.metric,
            labelled["reference"][TARGET].to_numpy(),
            labelled["reference"][PREDICTION].to_numpy(),
        ),
        current_value=metric_value(
            task_config.metric,
            labelled["current"][TARGET].to_numpy(),
            labelled["current"][PREDICTION].to_numpy(),
        )
        if "performance" in runs
        else None,
    )
    summary.verdict, summary.reasons = verdict(summary, config)
    return snapshots, summary


def drift_results(snapshot: dict) -> dict[str, bool]:
    """Per column, whether Evidently's drift test for it failed (the column drifted)."""
    drifted = {}
    for test in snapshot.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") == "evidently:metric_v2:ValueDrift":
            drifted[params["column"]] = str(test["status"]).endswith("FAIL")
    return drifted


def write_task(snapshots: dict[str, Any], summary: TaskDrift, folder: Path) -> None:
    """``<task>.<drift|performance>.html`` and ``.json``, and the summary as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, snapshot in snapshots.items():
        snapshot.save_html(str(folder / f"{summary.task}.{kind}.html"))
        snapshot.save_json(str(folder / f"{summary.task}.{kind}.json"))
    (folder / f"{summary.task}.summary.json").write_text(
        json.dumps(summary.as_dict(), indent=2) + "\n"
    )


# --------------------------------------------------------------------------------------------
# Reference and current data


def reference_frame(settings: Settings, task: str, data_dir: Path) -> pd.DataFrame:
    """The task's test split: a seeded sample of about ``max_reference_rows``, read by part."""
    path = data_dir / "features" / f"{settings.tasks[task].table}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no feature table {path}: run `make train` first")
    limit = settings.monitoring.drift.max_reference_rows
    return partitions.read_sample(path, limit, 0, partitions.split_is("test"))


def period_frame(settings: Settings, task: str, data_dir: Path, scenario: str) -> pd.DataFrame:
    """The prediction points of a generated next period (from its first day on; a seeded sample
    of about ``max_current_rows`` above that)."""
    folder = data_dir / "periods" / scenario
    path = folder / "features" / f"{settings.tasks[task].table}.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"no features for the {scenario!r} period in {folder}: run `make monitor "
            f"ARGS=scenario={scenario}` (or `python -m monitoring run scenario={scenario}`)"
        )
    return partitions.read_sample(
        path,
        settings.monitoring.drift.max_current_rows,
        0,
        partitions.predicted_from(pd.Timestamp(settings.data_gen.end_date)),
    )


def audit_frame(settings: Settings, task: str) -> pd.DataFrame:
    """The server's logged predictions for a task: its features, no label yet."""
    path = Path(settings.serving.audit_log)
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}: serve predictions first (make serve)")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    table = pd.DataFrame([line for line in lines if line.get("endpoint") == task])
    target = settings.tasks[task].target
    return table.assign(**{target: np.nan}) if len(table) else table


def write_summary(
    path: Path, scenario: str, summaries: list[TaskDrift], headline: list[tuple[str, str]]
) -> None:
    """The one page a reviewer reads first: per task the verdict and why, then the KPIs."""
    worst = max((VERDICTS.index(s.verdict) for s in summaries), default=0)
    lines = [
        f"# Monitoring: {VERDICTS[worst].upper()}",
        "",
        f"Reference: each task's test split. Current: {scenario_text(scenario)}.",
        "",
        "| task | model | verdict | drifted features | prediction drift | main metric, reference "
        "-> current | reports |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        metric = (
            f"{s.metric} {s.reference_value:.3f} -> {s.current_value:.3f}"
            if s.current_value is not None and s.reference_value is not None
            else f"{s.metric}: too few labels yet ({s.labelled_rows} rows)"
        )
        links = f"[drift](drift/{s.task}.drift.html)" + (
            f", [performance](drift/{s.task}.performance.html)"
            if s.current_value is not None
            else ""
        )
        drift = f"{len(s.drifted_features)} ({s.drift_share:.0%})"
        moved = "yes" if s.prediction_drift else "no"
        lines.append(
            f"| {s.task} | {s.model} | **{s.verdict}** | {drift} | {moved} | {metric} | {links} |"
        )
    lines += ["", "## Why", ""]
    for s in summaries:
        reasons = "; ".join(s.reasons) or "nothing beyond the thresholds"
        drifted = ", ".join(s.drifted_features[:12]) + (
            f" and {len(s.drifted_features) - 12} more" if len(s.drifted_features) > 12 else ""
        )
        lines.append(f"- **{s.task}** ({s.verdict}): {reasons}." + (
            f" Drifted: {drifted}." if drifted else ""))  # fmt: skip
    lines += ["", "## Hospital KPIs (whole period of the clean tables)", ""]
    lines += [f"- {name}: {value}" for name, value in headline]
    lines += ["", "Tables: [kpis/kpis.md](kpis/kpis.md) and CSV files beside it.", ""]
    path.write_text("\n".join(lines))


def scenario_text(scenario: str) -> str:
    if scenario == "audit":
        return "the predictions in the server's audit log"
    return f"the generated next period under scenario `{scenario}`"


def add_to_workspace(path: Path, snapshots: dict[str, dict[str, Any]]) -> None:
    """Keep a run's snapshots in the Evidently workspace, one project per task, so that
    ``make monitor-ui`` shows each task's drift and performance across runs."""
    from evidently.ui.workspace import Workspace

    workspace = Workspace.create(str(path))
    for task, by_kind in snapshots.items():
        project = next(iter(workspace.search_project(task)), None) or workspace.create_project(task)
        for snapshot in by_kind.values():
            workspace.add_run(project.id, snapshot, include_data=False)
