"""Optuna studies: one per task and model family, seeded TPE, pruning, resumable storage.

Each trial fits on the training split (or a seeded sample of it), stops early on the validation
split and is pruned when its validation curve lags. Trials are logged as MLflow runs nested under
the task's run. A study lives in the configured storage (SQLite by default, PostgreSQL to share it
between machines) under a name that includes the data's fingerprint, so an interrupted
``make train`` resumes where it stopped, and new data starts a fresh study.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
import sqlalchemy
from optuna_integration import LightGBMPruningCallback, XGBoostPruningCallback

from configs.training import SearchParam, TaskConfig
from training import evaluate, models

optuna.logging.set_verbosity(optuna.logging.WARNING)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray


def suggest(trial: optuna.Trial, space: dict[str, SearchParam]) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec.type == "int":
            params[name] = trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
        elif spec.type == "float":
            params[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        else:
            params[name] = trial.suggest_categorical(name, spec.choices)
    return params


# Boosting rounds between two reports to the pruner. Each report writes the study's storage
# and each pruning check reads every trial back from it: at every round, that storage traffic
# took half of a small world's training.
REPORT_EVERY = 10


class _XGBoostPruning(XGBoostPruningCallback):
    """Optuna's XGBoost pruning callback, reporting every ``REPORT_EVERY`` rounds."""

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        if epoch % REPORT_EVERY:
            return False  # go on training: XGBoost stops when a callback returns True
        return super().after_iteration(model, epoch, evals_log)


class _LightGBMPruning(LightGBMPruningCallback):
    """Optuna's LightGBM pruning callback, reporting every ``REPORT_EVERY`` rounds."""

    def __call__(self, env: Any) -> None:
        if env.iteration % REPORT_EVERY == 0:
            super().__call__(env)


def _pruning_callback(family: str, trial: optuna.Trial, metric: str) -> list:
    if family == "xgboost":
        return [_XGBoostPruning(trial, f"validation-{models.XGBOOST_METRIC[metric]}")]
    if family == "lightgbm":
        return [_LightGBMPruning(trial, models.LIGHTGBM_METRIC[metric], valid_name="validation")]
    return []


def open_storage(url: str, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The study storage. Workers starting together on a new database may race to create its
    tables; the loser retries. A heartbeat lets the others fail the trials of a dead worker."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental in Optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
        except sqlalchemy.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def study_name(task: str, family: str, fingerprint: str) -> str:
    return f"{task}-{family}-{fingerprint[:12]}"


def run_study(
    task: str,
    family: str,
    config: TaskConfig,
    features: list[str],
    train: Split,
    validation: Split,
    storage: str,
    fingerprint: str,
    seed: int,
    log_trials: bool = True,
) -> optuna.Study:
    """Create or resume the study and run the trials its budget still allows."""
    study = optuna.create_study(
        study_name=study_name(task, family, fingerprint),
        storage=open_storage(storage),
        load_if_exists=True,
        direction="maximize" if config.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
    )
    remaining = config.trials - len(study.get_trials(deepcopy=False, states=FINISHED))
    if remaining <= 0:
        return study

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        params = suggest(trial, config.search[family])
        fitted = models.fit(
            family,
            config.kind,
            params,
            features,
            (train.x, train.y),
            (validation.x, validation.y),
            metric=config.metric,
            max_rounds=config.max_rounds,
            early_stopping_rounds=config.early_stopping_rounds,
            monotone=config.monotone,
            seed=seed,
            callbacks=_pruning_callback(family, trial, config.metric),
        )
        prediction = fitted.model().raw_score_matrix(validation.x)
        value = evaluate.metric_value(config.metric, validation.y, prediction)
        trial.set_user_attr("rounds", fitted.rounds)
        if log_trials and mlflow.active_run() is not None:
            with mlflow.start_run(run_name=f"{family}-trial-{trial.number}", nested=True):
                mlflow.log_params({"family": family, **params})
                mlflow.log_metrics({f"validation_{config.metric}": value, "rounds": fitted.rounds})
        return value

    # Workers sharing the study stop together once the whole budget is spent.
    budget = optuna.study.MaxTrialsCallback(config.trials, states=FINISHED)
    study.optimize(
        objective,
        n_trials=remaining,
        timeout=config.timeout_seconds,
        callbacks=[budget],
        gc_after_trial=True,
    )
    return study


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return study.best_trial if complete else None
