"""A trained model's results, and its model card in Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from configs.training import TaskConfig


@dataclass
class TaskResult:
    task: str
    family: str
    version: str
    metric: str
    test: tuple[float, float, float]  # value, 95% interval
    baselines: dict[str, float]
    oracle: float
    # The ceiling is measured in AUROC (binary) or R2 (regression): model, oracle, share reached.
    ceiling: tuple[str, float, float, float | None]
    ceiling_interval: tuple[float, float] | None  # the share's bootstrap 95% interval
    calibration: dict[str, float] = field(default_factory=dict)
    champion_moved: bool = False
    decision: str = ""
    run_id: str = ""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _interval(bounds: Any) -> str:
    return (
        "interval not computed"
        if not bounds
        else f"95% interval {_fmt(bounds[0])} to {_fmt(bounds[1])}"
    )


def _table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return [header, rule, *rows]


def model_card(
    task: str,
    config: TaskConfig,
    report: dict[str, Any],
    importance: pd.DataFrame,
    subgroups: pd.DataFrame,
    metadata: dict[str, Any],
    test_rows: int,
) -> str:
    metrics = report["metrics"]
    lines = [
        f"# Model card: {config.title} (`{task}`)",
        "",
        "## Intended use",
        config.intended_use,
        "Decision support for clinicians and managers, never a decision on its own. Trained on a "
        "synthetic hospital world: retrain and re-validate on local data before any real use.",
        "",
        "## Model",
        f"- Family: {metadata['family']} ({metadata.get('rounds', 0)} rounds); "
        f"calibration: {metadata.get('calibration', {}).get('method', 'none')}",
        f"- Target: `{config.target}`; optimised metric: {config.metric} on the validation split",
        f"- Features: {len(metadata['features'])} (see the data dictionary logged with the run)",
        "",
        "## Data",
        f"- Feature table `data/features/{config.table}.parquet`; splits by patient and time,",
        f"  the test split is the latest period ({test_rows:,} rows).",
        "",
        "## Test metrics (95% bootstrap intervals)",
        "| metric | value | interval |",
        "| --- | --- | --- |",
        *[
            f"| {name} | {_fmt(v[0])} | {_fmt(v[1])} to {_fmt(v[2])} |"
            for name, v in metrics.items()
        ],
        "",
        "## Against the clinical baseline and the ceiling",
        *[
            f"- Baseline `{name}`: {config.metric} {_fmt(value)}"
            for name, value in report["baselines"].items()
        ],
        f"- Oracle (the generator's true risk): {_fmt(report['oracle'][config.metric])}",
        f"- Share of the ceiling reached ({report['ceiling']['metric']}): "
        f"{_fmt(report['ceiling']['fraction'])} "
        f"({_interval(report['ceiling'].get('fraction_interval'))}; "
        f"model {_fmt(report['ceiling']['model'])}, oracle {_fmt(report['ceiling']['oracle'])})",
    ]
    if "decision_curve" in report:
        curve = report["decision_curve"]
        low, high = curve["thresholds"]
        lines += [
            "",
            f"## Decision curve (threshold probabilities {low:g} to {high:g})",
            f"- The model's net benefit is the best of all rules at "
            f"{curve['model_best_share']:.0%} of the thresholds.",
            *[
                f"- Mean net benefit above `{name}`: {_fmt(gain[0])} true positives per patient "
                f"({_interval(gain[1:])})"
                for name, gain in curve["mean_gain_over"].items()
            ],
        ]
    if "operating_points" in report:
        p = report["operating_points"]
        lines += [
            "",
            "## Operating point (same number of alerts as the clinical trigger)",
            "| rule | sensitivity | PPV | alerts per 100 |",
            "| --- | --- | --- | --- |",
            f"| `{config.alert.baseline}` >= {_fmt(config.alert.threshold)} | "
            f"{_fmt(p['baseline_sensitivity'])} | {_fmt(p['baseline_ppv'])} | "
            f"{_fmt(p['baseline_alerts_per_100'])} |",
            f"| model >= {_fmt(p['model_threshold'])} | {_fmt(p['model_sensitivity'])} | "
            f"{_fmt(p['model_ppv'])} | {_fmt(p['model_alerts_per_100'])} |",
        ]
    gap = report["largest_subgroup_gap"]
    lines += [
        "",
        "## Subgroups",
        f"Largest gap: {gap.get('grouping')} ({_fmt(gap.get('gap'))}), "
        f"lowest {gap.get('lowest')}, highest {gap.get('highest')}.",
        "",
        *_table(subgroups),
        "",
        "## Top features (mean absolute SHAP value)",
        *[
            f"{i}. `{row.feature}` ({row.mean_abs_shap:.3g})"
            for i, row in enumerate(importance.head(10).itertuples(), 1)
        ],
        "",
        "## Limitations",
        "- Synthetic data: it learned the generator's causal model, not a real hospital's.",
        "- The oracle ceiling uses latent variables no model can observe; a gap to it is expected.",
        "- Calibration holds for the population it was fitted on: recalibrate after a shift "
        "(the monitoring stage watches for drift).",
        "- Subgroup results with few patients have wide uncertainty.",
    ]
    return "\n".join(lines) + "\n"
