"""Evaluation on the held-out test period: metrics with bootstrap intervals, calibration, clinical
baselines, the oracle ceiling, operating points, decision curves, subgroups (fairlearn) and SHAP
explanations."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: figures are logged, never shown

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from fairlearn.metrics import MetricFrame
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    cohen_kappa_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from statsmodels.nonparametric.smoothers_lowess import lowess

from configs.training import TaskConfig

# mimic3-benchmarks LOS buckets, in days: 0-1, 1-2, ..., 7-8, 8-14, >14.
LOS_BUCKET_EDGES = [1, 2, 3, 4, 5, 6, 7, 8, 14]
NO_SKILL = {"auroc": 0.5, "auprc": None, "r2": 0.0}
SHARE = "ceiling_share"  # among the bootstrapped metrics: the share of the oracle's lift


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """Mean absolute gap between predicted and observed risk over equal-width bins, by count."""
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(which):
        members = which == b
        gap += members.mean() * abs(p[members].mean() - y[members].mean())
    return float(gap)


def _logistic_slope(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> float:
    """The slope of the maximum-likelihood logistic regression of ``y`` on ``x`` (with an
    intercept), by Newton's method from the calibrated answer (0, 1): a few passes over the rows,
    against a general solver's hundreds (it runs in every bootstrap resample)."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    for _ in range(iterations):
        mu = 1 / (1 + np.exp(-(design @ beta)))
        weight = mu * (1 - mu)
        hessian = design.T @ (design * weight[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return float("nan")  # one risk for every row: no slope to fit
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[1])


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope of the logistic recalibration of y on logit(p), and calibration-in-the-large (the
    intercept with the slope fixed at 1): 1 and 0 for a perfectly calibrated model."""
    logit = _logit(p)
    slope = _logistic_slope(logit, np.asarray(y, dtype=float))
    observed = float(np.mean(y))
    intercept = brentq(lambda a: np.mean(1 / (1 + np.exp(-(a + logit)))) - observed, -20, 20)
    return slope, float(intercept)


def smoothed_calibration_errors(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Austin and Steyerberg's integrated calibration index (the mean absolute gap between each
    predicted risk and the observed rate a lowess curve gives at it), and the gap's 90th
    percentile, E90. Binary outcomes: no robustness iterations, which would treat events as
    outliers; the curve is fitted on a grid of 1% of the risk range and interpolated."""
    p = np.asarray(p, dtype=float)
    if len(np.unique(p)) < 2:
        observed = np.full_like(p, np.mean(y))
    else:
        with warnings.catch_warnings():
            # A few rows on a few distinct risks leave a window without spread: NaN, reported.
            warnings.simplefilter("ignore", RuntimeWarning)
            observed = lowess(
                np.asarray(y, dtype=float), p, frac=2 / 3, it=0, delta=0.01 * np.ptp(p),
                return_sorted=False,
            )  # fmt: skip
        if np.isnan(observed).any():
            return {"ici": float("nan"), "e90": float("nan")}
    gap = np.abs(p - np.clip(observed, 0.0, 1.0))
    return {"ici": float(np.mean(gap)), "e90": float(np.quantile(gap, 0.9))}


def binary_metrics(y: np.ndarray, p: np.ndarray, bins: int) -> dict[str, float]:
    slope, intercept = calibration_slope_intercept(y, p)
    return {
        "auroc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p, bins),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        **smoothed_calibration_errors(y, p),
    }


def los_buckets(days: np.ndarray) -> np.ndarray:
    return np.searchsorted(LOS_BUCKET_EDGES, np.asarray(days), side="right")


def regression_metrics(
    y: np.ndarray, prediction: np.ndarray, los: bool = False
) -> dict[str, float]:
    metrics = {
        "mae": float(mean_absolute_error(y, prediction)),
        "rmse": float(np.sqrt(mean_squared_error(y, prediction))),
        "r2": float(r2_score(y, prediction)),
    }
    if los:  # mimic3-benchmarks: 10 buckets, linear-weighted Cohen's kappa
        metrics["kappa"] = float(
            cohen_kappa_score(los_buckets(y), los_buckets(prediction), weights="linear")
        )
    return metrics


@dataclass(frozen=True)
class Performance:
    """A model's metrics on labelled rows with their bootstrap 95% intervals ({name: (value, low,
    high)}), the oracle's metrics on the same rows, and the share of the oracle's lift over no
    skill the model reaches (in ``lift``: AUROC or R2) with its interval, on the same resamples."""

    metrics: dict[str, tuple[float, float, float]]
    oracle: dict[str, float]
    lift: str
    share: float | None
    share_interval: tuple[float, float]


def performance(
    y: np.ndarray,
    prediction: np.ndarray,
    oracle: np.ndarray,
    config: TaskConfig,
    bins: int,
    resamples: int,
    seed: int,
) -> Performance:
    """The task's metrics (binary or regression) of ``prediction`` against ``y`` with intervals,
    and the share of the ceiling that ``oracle`` sets."""
    binary = config.kind == "binary"
    lift = "auroc" if binary else "r2"

    def measure(y_: np.ndarray, p_: np.ndarray) -> dict[str, float]:
        if binary:
            return binary_metrics(y_, p_, bins)
        return regression_metrics(y_, p_, los=config.bucketed_kappa)

    def with_share(y_: np.ndarray, model_and_oracle: np.ndarray) -> dict[str, float]:
        metrics = measure(y_, model_and_oracle[:, 0])
        share = ceiling_fraction(
            lift, metrics[lift], metric_value(lift, y_, model_and_oracle[:, 1])
        )
        return {**metrics, SHARE: np.nan if share is None else share}

    metrics = bootstrap(with_share, y, np.column_stack([prediction, oracle]), resamples, seed)
    _, low, high = metrics.pop(SHARE)
    oracle_metrics = measure(y, oracle)
    share = ceiling_fraction(lift, metrics[lift][0], oracle_metrics[lift])
    return Performance(metrics, oracle_metrics, lift, share, (low, high))


def baseline_values(config: TaskConfig, y: np.ndarray, rows: pd.DataFrame) -> dict[str, float]:
    """The task's metric of each clinical baseline on the same rows."""
    return {
        b: metric_value(config.metric, y, rows[b].to_numpy(dtype=float)) for b in config.baselines
    }


def metric_value(metric: str, y: np.ndarray, prediction: np.ndarray) -> float:
    """The single metric that tuning optimises and the champion rule compares."""
    functions: dict[str, Callable] = {
        "auroc": roc_auc_score,
        "auprc": average_precision_score,
        "brier": lambda y, p: np.mean((p - y) ** 2),
        "rmse": lambda y, p: np.sqrt(mean_squared_error(y, p)),
        "mae": mean_absolute_error,
        "r2": r2_score,
    }
    return float(functions[metric](y, prediction))


def ceiling_fraction(metric: str, model: float, oracle: float) -> float | None:
    """Share of the oracle's lift over no skill that the model reaches.

    For AUROC (model - 0.5) / (oracle - 0.5); for R2 model / oracle; None for other metrics.
    """
    baseline = NO_SKILL.get(metric)
    if baseline is None or oracle == baseline:
        return None
    return (model - baseline) / (oracle - baseline)


def bootstrap(
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    y: np.ndarray,
    prediction: np.ndarray,
    resamples: int,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    """Each metric with its percentile bootstrap 95% interval: {name: (value, low, high)}."""
    point = metrics(y, prediction)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        if len(np.unique(y[rows])) < 2 and len(np.unique(y)) == 2:
            continue
        for name, value in metrics(y[rows], prediction[rows]).items():
            draws[name].append(value)
    return {
        name: (value, *map(float, np.nanpercentile(draws[name], [2.5, 97.5])))
        for name, value in point.items()
    }


def operating_points(
    y: np.ndarray, prediction: np.ndarray, baseline: np.ndarray, threshold: float
) -> dict[str, float]:
    """The baseline score at its usual trigger, and the model at the threshold that raises the
    same number of alerts: sensitivity, PPV and alerts per 100 patients of each."""
    alerts = baseline >= threshold
    share = alerts.mean()
    model_threshold = float(np.quantile(prediction, 1 - share)) if share > 0 else float("inf")
    model_alerts = prediction >= model_threshold

    def summary(flags: np.ndarray) -> tuple[float, float, float]:
        sensitivity = flags[y == 1].mean() if (y == 1).any() else float("nan")
        ppv = y[flags].mean() if flags.any() else float("nan")
        return float(sensitivity), float(ppv), float(100 * flags.mean())

    baseline_sens, baseline_ppv, baseline_rate = summary(alerts)
    model_sens, model_ppv, model_rate = summary(model_alerts)
    return {
        "baseline_threshold": threshold,
        "baseline_sensitivity": baseline_sens,
        "baseline_ppv": baseline_ppv,
        "baseline_alerts_per_100": baseline_rate,
        "model_threshold": model_threshold,
        "model_sensitivity": model_sens,
        "model_ppv": model_ppv,
        "model_alerts_per_100": model_rate,
    }


def net_benefit(y: np.ndarray, risk: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Vickers and Elkin's net benefit of acting on everyone whose risk is at or above each
    threshold: true positives per patient, less false positives per patient weighted by the
    threshold's odds (the harm of acting needlessly against the benefit of acting in time)."""
    y = np.asarray(y).astype(bool)
    risk = np.asarray(risk, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    events, others = np.sort(risk[y]), np.sort(risk[~y])
    true_positives = len(events) - np.searchsorted(events, thresholds, side="left")
    false_positives = len(others) - np.searchsorted(others, thresholds, side="left")
    return (true_positives - false_positives * thresholds / (1 - thresholds)) / len(y)


def treat_all_net_benefit(y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    prevalence = float(np.mean(y))
    thresholds = np.asarray(thresholds, dtype=float)
    return prevalence - (1 - prevalence) * thresholds / (1 - thresholds)


def score_as_risk(score_fit: np.ndarray, y_fit: np.ndarray, score: np.ndarray) -> np.ndarray:
    """A clinical score's points as a probability: the logistic model of the outcome on the
    score, fitted on other rows (the validation split) and applied to ``score``."""
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(np.asarray(score_fit, dtype=float)[:, None], y_fit)
    return model.predict_proba(np.asarray(score, dtype=float)[:, None])[:, 1]


def decision_curve(
    y: np.ndarray,
    risk: np.ndarray,
    baselines: dict[str, np.ndarray],
    thresholds: np.ndarray,
    resamples: int,
    seed: int,
    oracle: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, tuple[float, float, float]]]:
    """Net benefit of the model, each baseline's risk, the oracle's true risk (the most any model
    could give), treating everyone and no one at each threshold, with the model's gain over each
    baseline and its percentile bootstrap 95% interval (patients resampled); and each baseline's
    mean gain over the threshold range, with its interval: ``{baseline: (mean gain, low, high)}``.
    """
    y = np.asarray(y)
    risks = {"model": np.asarray(risk, dtype=float), **baselines}
    curve = pd.DataFrame({"threshold": thresholds})
    for name, values in {**risks, **({} if oracle is None else {"oracle": oracle})}.items():
        curve[name] = net_benefit(y, values, thresholds)
    curve["treat_all"] = treat_all_net_benefit(y, thresholds)
    curve["treat_none"] = 0.0
    rng = np.random.default_rng(seed)
    gains = {name: [] for name in baselines}
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        model = net_benefit(y[rows], risks["model"][rows], thresholds)
        for name, values in baselines.items():
            gains[name].append(model - net_benefit(y[rows], values[rows], thresholds))
    summary = {}
    for name, draws in gains.items():
        draws = np.asarray(draws)
        curve[f"gain_over_{name}"] = curve["model"] - curve[name]
        curve[f"gain_over_{name}_low"], curve[f"gain_over_{name}_high"] = np.percentile(
            draws, [2.5, 97.5], axis=0
        )
        low, high = np.percentile(draws.mean(axis=1), [2.5, 97.5])
        summary[name] = (float(curve[f"gain_over_{name}"].mean()), float(low), float(high))
    return curve, summary


def task_decision_curve(
    config: TaskConfig,
    fit_rows: pd.DataFrame,
    rows: pd.DataFrame,
    prediction: np.ndarray,
    resamples: int,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, tuple[float, float, float]], float]:
    """A binary task's decision curve on ``rows``: the model against each clinical score (as a
    risk fitted on ``fit_rows``, never on the rows judged), the oracle, treat-all and treat-none
    over the task's thresholds; the mean gains over each score; and the share of the thresholds
    where the model's net benefit is the best of the rules a hospital could adopt."""
    baselines = {
        b: score_as_risk(fit_rows[b], fit_rows[config.target], rows[b]) for b in config.baselines
    }
    curve, gains = decision_curve(
        rows[config.target].to_numpy(),
        prediction,
        baselines,
        decision_thresholds(*config.decision_thresholds),
        resamples,
        seed,
        oracle=rows[config.oracle].to_numpy(dtype=float),
    )
    alternatives = curve[[*baselines, "treat_all", "treat_none"]].max(axis=1)
    return curve, gains, float((curve["model"] >= alternatives).mean())


def decision_thresholds(low: float, high: float, step: float = 0.01) -> np.ndarray:
    """The threshold probabilities of a decision curve: ``low`` to ``high`` by ``step``."""
    return np.round(np.arange(low, high + step / 2, step), 6)


def _safe_auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def subgroups(
    y: np.ndarray, prediction: np.ndarray, groups: pd.DataFrame, kind: str
) -> pd.DataFrame:
    """Per subgroup of each grouping column: size, main metric, calibration-in-the-large and, for
    probabilities, the smoothed calibration errors (ICI and E90)."""
    if kind == "binary":
        metrics = {
            "auroc": _safe_auroc,
            "brier": lambda y, p: float(np.mean((p - y) ** 2)),
            "observed": lambda y, p: float(np.mean(y)),
            "predicted": lambda y, p: float(np.mean(p)),
            "ici": lambda y, p: smoothed_calibration_errors(y, p)["ici"],
            "e90": lambda y, p: smoothed_calibration_errors(y, p)["e90"],
        }
    else:
        metrics = {
            "mae": mean_absolute_error,
            "r2": r2_score,
            "observed": lambda y, p: float(np.mean(y)),
            "predicted": lambda y, p: float(np.mean(p)),
        }
    metrics["n"] = lambda y, p: float(len(y))
    frames = []
    for column in groups.columns:
        frame = MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=prediction,
            sensitive_features=groups[column].fillna("unknown").astype(str),
        )
        by_group = frame.by_group.reset_index().rename(columns={column: "group"})
        by_group.insert(0, "grouping", column.removeprefix("group_"))
        frames.append(by_group)
    return pd.concat(frames, ignore_index=True)


def largest_gap(table: pd.DataFrame, metric: str, min_size: int = 50) -> dict[str, object]:
    """The grouping with the widest spread of ``metric`` among subgroups of ``min_size`` or more."""
    large = table[table["n"] >= min_size].dropna(subset=[metric])
    best = {"grouping": None, "gap": 0.0}
    for grouping, rows in large.groupby("grouping"):
        if len(rows) > 1 and rows[metric].max() - rows[metric].min() > best["gap"]:
            low, high = rows.loc[rows[metric].idxmin()], rows.loc[rows[metric].idxmax()]
            best = {
                "grouping": grouping,
                "gap": float(high[metric] - low[metric]),
                "lowest": f"{low['group']} ({low[metric]:.3f})",
                "highest": f"{high['group']} ({high[metric]:.3f})",
            }
    return best


# --------------------------------------------------------------------------------------------
# Figures


def reliability_figure(y: np.ndarray, p: np.ndarray, bins: int, title: str) -> plt.Figure:
    which = np.minimum((p * bins).astype(int), bins - 1)
    table = (
        pd.DataFrame({"bin": which, "p": p, "y": y})
        .groupby("bin")
        .agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    )
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axis.plot(table["predicted"], table["observed"], marker="o", label="model")
    limit = max(0.05, float(table[["predicted", "observed"]].to_numpy().max()) * 1.1)
    axis.set(
        xlim=(0, limit),
        ylim=(0, limit),
        xlabel="predicted risk",
        ylabel="observed rate",
        title=title,
    )
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def decision_curve_figure(curve: pd.DataFrame, baselines: list[str], title: str) -> plt.Figure:
    """Net benefit against threshold: the model, its baselines, the oracle when the curve has it,
    treat all and treat none."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    lines = [("model", "-"), *((b, "--") for b in baselines), ("oracle", "-."), ("treat_all", ":")]
    for name, style in lines:
        if name in curve:
            axis.plot(curve["threshold"], curve[name], linestyle=style, label=name)
    axis.axhline(0.0, color="grey", linewidth=1, label="treat none")
    top = float(curve[[c for c in ("model", *baselines, "oracle") if c in curve]].to_numpy().max())
    axis.set(
        ylim=(-0.1 * top, 1.1 * top),
        xlabel="threshold probability",
        ylabel="net benefit (true positives per patient)",
        title=title,
    )
    axis.legend(loc="upper right")
    figure.tight_layout()
    return figure


def shap_figures(
    contributions: pd.DataFrame, data: pd.DataFrame, top: int = 3, cases: int = 3
) -> dict[str, plt.Figure]:
    """Beeswarm of the test sample, dependence plots of the top features, waterfalls of the
    highest-risk cases (in the model's raw output units: log-odds for binary tasks)."""
    features = [c for c in contributions.columns if c != "bias"]
    explanation = shap.Explanation(
        values=contributions[features].to_numpy(),
        base_values=contributions["bias"].to_numpy(),
        data=data[features].to_numpy(dtype=float),
        feature_names=features,
    )
    figures = {}
    plt.figure()
    shap.plots.beeswarm(explanation, max_display=15, show=False)
    figures["shap_beeswarm.png"] = plt.gcf()
    ranking = contributions[features].abs().mean().sort_values(ascending=False).index[:top]
    for feature in ranking:
        plt.figure()
        shap.plots.scatter(explanation[:, feature], show=False)
        figures[f"shap_dependence_{feature}.png"] = plt.gcf()
    highest = np.argsort(-contributions.sum(axis=1).to_numpy())[:cases]
    for rank, row in enumerate(highest, start=1):
        plt.figure()
        shap.plots.waterfall(explanation[int(row)], max_display=12, show=False)
        figures[f"shap_waterfall_high_risk_{rank}.png"] = plt.gcf()
    return figures


def importance(contributions: pd.DataFrame) -> pd.DataFrame:
    """Global importance: mean absolute contribution per feature, largest first."""
    values = contributions.drop(columns="bias").abs().mean().sort_values(ascending=False)
    return values.rename("mean_abs_shap").rename_axis("feature").reset_index()
