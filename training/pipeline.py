"""One task end to end: tune every family, fit and calibrate the best, evaluate on the test period,
log it all to MLflow, register the model and move the champion alias only when it has earned it."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

import registry
from configs import Settings
from configs.training import TaskConfig, TrainingConfig
from features import dictionary
from training import evaluate, models, pyfunc_model, tune
from training.data import SPLITS, TaskData, TrainingDataError, load_task_data
from training.model_card import TaskResult, model_card

PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "optuna",
    "mlflow",
    "shap",
    "fairlearn",
)


def _tracking(settings: Settings, task: str) -> str:
    """Point MLflow at the tracking store and the task's experiment (created when new)."""
    registry.connect(settings)
    name = registry.experiment_name(settings, task)
    if mlflow.get_experiment_by_name(name) is None:
        location = Path(settings.training.artifact_location).resolve()
        location.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(name, artifact_location=location.as_uri())
    mlflow.set_experiment(name)
    return name


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    return frame if rows is None or len(frame) <= rows else frame.sample(rows, random_state=seed)


def train_task(settings: Settings, task: str, data_dir: Path, progress=print) -> TaskResult:
    t = settings.training
    config = settings.tasks[task].within(t.budget)
    data, fingerprint = load_task_data(data_dir, config, t.scale, t.seed)
    train, validation, test = (data.split(s) for s in SPLITS)
    tuning = _sample(train, config.tuning_rows, t.seed)
    train_split = tune.Split(data.matrix(tuning), tuning[config.target].to_numpy())
    validation_split = tune.Split(data.matrix(validation), validation[config.target].to_numpy())
    if config.kind == "binary":
        for name, split in (("training", train_split), ("validation", validation_split)):
            if len(np.unique(split.y)) < 2:
                raise TrainingDataError(
                    f"{task}: the {name} rows have {config.target} in {sorted(set(split.y))}"
                    " only: no model can be tuned; a larger world (n_patients) or another split"
                    " (the pseudonymisation key) gives them both outcomes"
                )

    _tracking(settings, task)
    with mlflow.start_run(run_name=f"{task}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags(
            {"task": task, "git_commit": _git_commit(), "data_fingerprint": fingerprint[:16]}
        )
        mlflow.log_dict(settings.model_dump(mode="json"), "config/resolved_config.json")
        mlflow.log_dict(_versions(), "environment/package_versions.json")
        mlflow.log_dict(_data_provenance(data_dir), "data/manifest_hashes.json")
        mlflow.log_text(dictionary.markdown(settings), "data/data_dictionary.md")
        mlflow.log_params(
            {
                "target": config.target,
                "metric": config.metric,
                "trials_per_family": config.trials,
                **{f"{split}_rows": data.rows[split] for split in SPLITS},
                "trained_at_scale": data.at_scale,
                "evaluated_test_rows": len(test),
            }
        )

        # Tune every family; the best validation score wins.
        best = {}
        for family in config.families:
            started = time.perf_counter()
            study = tune.run_study(
                task,
                family,
                config,
                data.features,
                train_split,
                validation_split,
                t.optuna_storage,
                fingerprint,
                t.seed,
            )
            trial = tune.best_trial(study)
            if trial is not None:
                best[family] = trial
                mlflow.log_metric(f"best_validation_{config.metric}_{family}", trial.value)
            progress(
                f"{task}: {family} best validation {config.metric} "
                f"{trial.value if trial else float('nan'):.4f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
        if not best:
            raise TrainingDataError(
                f"{task}: no trial finished within the budget (configs/tasks/{task}.yaml)"
            )
        pick = max if config.greater_is_better else min
        family = pick(best, key=lambda f: best[f].value)
        trial = best[family]
        params = dict(trial.params)
        mlflow.log_params({"family": family, **{f"param_{k}": v for k, v in params.items()}})

        # The best configuration on all training rows, stopped early on validation: its validation
        # predictions choose the calibration (never the test), and its rounds set any refit.
        fit = functools.partial(
            models.fit,
            family,
            config.kind,
            params,
            data.features,
            metric=config.metric,
            early_stopping_rounds=config.early_stopping_rounds,
            monotone=config.monotone,
            seed=t.seed,
            quantised=data.at_scale,
        )
        # At scale the linear family fits on a sample; the boosters on every row, quantised.
        limit = t.scale.linear_rows if family == "linear" else None
        train_only = fit(
            data.rows_of(["train"], limit),
            (validation_split.x, validation_split.y),
            max_rounds=config.max_rounds,
        )
        calibration: dict = {"method": "none"}
        if config.kind == "binary" and config.calibration != "none":
            scores = train_only.model().raw_score_matrix(validation_split.x)
            method, brier = models.choose_calibration(
                config.calibration, scores, validation_split.y, t.seed
            )
            calibration = models.fit_calibration(method, scores, validation_split.y)
            mlflow.log_dict(
                {"chosen": method, "cross_validated_brier": brier}, "calibration/choice.json"
            )

        # A calibration map belongs to the model whose validation predictions it was fitted on:
        # a refit on more rows and rounds spreads its scores otherwise, and the map would
        # miscalibrate it (an ECE of 0.3 on the small world, where early stopping had kept a
        # handful of rounds). A calibrated model is therefore the training-rows fit; without a
        # map, the configuration is refitted on training and validation rows, the rounds scaled.
        if calibration["method"] == "none":
            development_rows = data.rows["train"] + data.rows["validation"]
            rounds = max(round(train_only.rounds * development_rows / data.rows["train"]), 1)
            final = fit(data.rows_of(["train", "validation"], limit), None, max_rounds=rounds)
        else:
            final = train_only
        model = final.model(calibration)

        result = _evaluate(task, settings, config, data, validation, test, model, family)
        result.run_id = run.info.run_id
        version = _log_model(settings, task, config, data, model, final, test)
        result.version = version
        result.champion_moved, result.decision = _champion_rule(
            settings, task, config, version, trial.value, result
        )
        mlflow.set_tag("champion_decision", result.decision)
    return result


def _data_provenance(data_dir: Path) -> dict[str, str]:
    hashes = {}
    for path in (data_dir / "raw" / "manifest.json", data_dir / "features" / "manifest.json"):
        if path.exists():
            hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _evaluate(
    task: str,
    settings: Settings,
    config: TaskConfig,
    data: TaskData,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    model: pyfunc_model.RiskModel,
    family: str,
) -> TaskResult:
    t = settings.training
    y = test[config.target].to_numpy()
    prediction = model.predict_matrix(data.matrix(test))
    oracle = test[config.oracle].to_numpy()
    binary = config.kind == "binary"
    performance = evaluate.performance(
        y, prediction, oracle, config, t.calibration_bins, t.bootstrap_resamples, t.seed
    )
    metrics, oracle_metrics = performance.metrics, performance.oracle
    lift, fraction, fraction_interval = (
        performance.lift,
        performance.share,
        performance.share_interval,
    )
    baselines = evaluate.baseline_values(config, y, test)
    value, low, high = metrics[config.metric]
    ceiling = (lift, metrics[lift][0], oracle_metrics[lift], fraction)
    mlflow.log_metrics(
        {registry.metric_on_test(k, bound): v[i] for k, v in metrics.items()
         for i, bound in enumerate(("", "low", "high"))}
    )  # fmt: skip
    mlflow.log_metrics({registry.oracle_metric(k): v for k, v in oracle_metrics.items()})
    mlflow.log_metrics(
        {registry.baseline_metric(b, config.metric): v for b, v in baselines.items()}
    )
    if fraction is not None:
        mlflow.log_metrics(
            {registry.ceiling_fraction(lift, bound): v
             for bound, v in zip(("", "low", "high"), (fraction, *fraction_interval), strict=True)}
        )  # fmt: skip

    report: dict = {
        "metrics": metrics,
        "oracle": oracle_metrics,
        "baselines": baselines,
        "ceiling": {
            "metric": lift,
            "model": ceiling[1],
            "oracle": ceiling[2],
            "fraction": fraction,
            "fraction_interval": list(fraction_interval),
        },
    }
    if binary and config.alert is not None:
        points = evaluate.operating_points(
            y, prediction, test[config.alert.baseline].to_numpy(dtype=float), config.alert.threshold
        )
        mlflow.log_metrics({f"operating_{k}": v for k, v in points.items() if np.isfinite(v)})
        report["operating_points"] = points
    if binary:
        report["decision_curve"] = _decision_curve(task, config, t, validation, test, prediction)
    for label in config.label_columns[1:]:  # the further labels: 60- and 90-day readmission...
        known = test[label].notna().to_numpy()
        outcome = test.loc[known, label].to_numpy(dtype=float)
        if len(np.unique(outcome)) == 2:
            name = registry.label_auroc(label)
            report[name] = float(evaluate.roc_auc_score(outcome, prediction[known]))
            mlflow.log_metric(name, report[name])

    # The share of each feature missing on the test rows (the report's missing-data item).
    missing = test[data.features].isna().mean()
    mlflow.log_dict(missing[missing > 0].round(6).to_dict(), "data/missing_shares.json")
    groups = test[[c for c in data.roles["groups"]]]
    subgroup_table = evaluate.subgroups(y, prediction, groups, config.kind)
    gap_metric = "auroc" if binary else "mae"
    report["largest_subgroup_gap"] = evaluate.largest_gap(subgroup_table, gap_metric)
    mlflow.log_table(subgroup_table, "evaluation/subgroups.json")

    sample = test.sample(min(t.shap_rows, len(test)), random_state=t.seed)
    contributions = model.contributions(sample)
    ranking = evaluate.importance(contributions)
    mlflow.log_table(ranking, "explanations/shap_importance.json")
    figures = evaluate.shap_figures(contributions, sample)
    if binary:
        figures["reliability.png"] = evaluate.reliability_figure(
            y, prediction, t.calibration_bins, f"{task}: test period"
        )
    for name, figure in figures.items():
        # The whole figure: long feature names stand left of SHAP's axes, outside its frame.
        mlflow.log_figure(figure, f"figures/{name}", save_kwargs={"bbox_inches": "tight"})
    plt.close("all")  # SHAP's scatter draws on a figure of its own, leaving the one opened for it
    mlflow.log_dict(report, "evaluation/report.json")
    calibration = {
        k: metrics[k][0]
        for k in ("ece", "calibration_slope", "calibration_intercept", "brier")
        if k in metrics
    }
    result = TaskResult(
        task,
        family,
        "",
        config.metric,
        (value, low, high),
        baselines,
        oracle_metrics[config.metric],
        ceiling,
        fraction_interval if fraction is not None else None,
        calibration,
    )
    mlflow.log_text(
        model_card(task, config, report, ranking, subgroup_table, model.metadata, len(test)),
        "model_card.md",
    )
    return result


def _decision_curve(
    task: str,
    config: TaskConfig,
    t: TrainingConfig,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    prediction: np.ndarray,
) -> dict[str, object]:
    """The decision curve of the test split (``evaluate.task_decision_curve``): table, figure and
    metrics logged, the summary returned for the report."""
    curve, gains, best_share = evaluate.task_decision_curve(
        config, validation, test, prediction, t.bootstrap_resamples, t.seed
    )
    mlflow.log_table(curve, "evaluation/decision_curve.json")
    figure = evaluate.decision_curve_figure(curve, list(config.baselines), f"{task}: test period")
    mlflow.log_figure(figure, "figures/decision_curve.png", save_kwargs={"bbox_inches": "tight"})
    plt.close(figure)
    mlflow.log_metric(registry.decision_best_share(), best_share)
    for baseline, gain in gains.items():
        mlflow.log_metrics(
            {registry.net_benefit_gain(baseline, bound): value
             for bound, value in zip(("", "low", "high"), gain, strict=False)}
        )  # fmt: skip
    return {
        "thresholds": list(config.decision_thresholds),
        "model_best_share": best_share,
        "mean_gain_over": {b: list(g) for b, g in gains.items()},
    }


def _log_model(
    settings: Settings,
    task: str,
    config: TaskConfig,
    data: TaskData,
    model: pyfunc_model.RiskModel,
    final: models.Fitted,
    test: pd.DataFrame,
) -> str:
    name = registry.model_name(settings, task)
    example = test[data.features].head(5)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # Integer features here are one-hot flags and counts, never missing: no need for the hint.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        artifacts = {
            "estimator": str(models.save_estimator(final, Path(folder))),
            "metadata": str(models.save_metadata(model, Path(folder))),
        }
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(pyfunc_model.__file__)),
            artifacts=artifacts,
            # The feature functions' own dtypes: the server computes features with them too.
            signature=infer_signature(example, model.predict(None, example)),
            input_example=example.fillna(0.0),
            registered_model_name=name,
            pip_requirements=[f"{p}=={v}" for p, v in _versions().items() if v != "not installed"],
        )
    return str(info.registered_model_version)


def _champion_rule(
    settings: Settings,
    task: str,
    config: TaskConfig,
    version: str,
    validation_value: float,
    result: TaskResult,
) -> tuple[bool, str]:
    """Move the champion alias to the new version only if it beats the current champion's
    validation metric by the configured margin; the decision and both figures are logged."""
    client = registry.connect(settings)
    name, alias = registry.model_name(settings, task), registry.champion_alias(settings)
    tags = {
        f"validation_{config.metric}": f"{validation_value:.6f}",
        f"test_{config.metric}": f"{result.test[0]:.6f}",
        "family": result.family,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    recorded = current.tags.get(f"validation_{config.metric}") if current is not None else None
    current_value = float(recorded) if recorded is not None else None
    if current is None:
        moved = True
        decision = f"version {version} is the first champion"
    elif current_value is None:
        moved = True
        decision = f"version {version} replaces version {current.version}, which recorded no metric"
    else:
        moved = (
            validation_value >= current_value + config.champion_margin
            if config.greater_is_better
            else validation_value <= current_value - config.champion_margin
        )
        outcome = (
            f"version {version} replaces version {current.version}"
            if moved
            else f"version {current.version} stays champion over version {version}"
        )
        figures = f"validation {config.metric} {validation_value:.4f} against {current_value:.4f}"
        decision = f"{outcome} ({figures}, margin {config.champion_margin})"
    if moved:
        client.set_registered_model_alias(name, alias, version)
    mlflow.log_dict(
        {"moved": moved, "new": validation_value, "current": current_value, "decision": decision},
        "champion_decision.json",
    )
    return moved, decision
