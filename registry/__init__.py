"""The MLflow registry in one place: where it is, what models and experiments are called, which
alias marks a champion, how a champion is loaded, and the names of the metrics training logs
(and the dashboard reads). Training, serving, monitoring, the dashboard and the benchmarks ask
here; none builds a name or a URI itself. Below the stages: it imports only ``configs``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from configs import Settings

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
# MLflow writes the URI it is given into the environment, so only the one set before this process
# started is the user's choice.
URI_AT_START = os.environ.get(TRACKING_URI_ENV)
SQLITE = "sqlite:///"
# MLflow draws a progress bar for every model it reads back (a few per task): noise in a log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class ChampionNotFoundError(RuntimeError):
    """A task has no model under the champion alias: the message says which and how to train it."""


def tracking_uri(settings: Settings) -> str:
    """MLFLOW_TRACKING_URI as set when this process started, else ``training.tracking_uri``."""
    return URI_AT_START or settings.training.tracking_uri


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri.removeprefix(SQLITE)) if uri.startswith(SQLITE) else None


def connect(settings: Settings) -> mlflow.MlflowClient:
    """Point MLflow at the tracking store and registry (a SQLite file's folder is created)."""
    uri = tracking_uri(settings)
    if (path := _sqlite_file(uri)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri)


def changed_at(settings: Settings) -> float:
    """When a SQLite store last changed (0 for other stores, or none yet): a cache key."""
    path = _sqlite_file(tracking_uri(settings))
    return path.stat().st_mtime if path is not None and path.exists() else 0.0


def experiment_name(settings: Settings, task: str) -> str:
    return f"{settings.training.experiment_prefix}-{task}"


def model_name(settings: Settings, task: str) -> str:
    """The registered model of a task."""
    return f"{settings.training.registry_prefix}-{task}"


def champion_alias(settings: Settings) -> str:
    return settings.training.champion_alias


def champion_uri(settings: Settings, task: str) -> str:
    return f"models:/{model_name(settings, task)}@{champion_alias(settings)}"


def champion_version(settings: Settings, task: str) -> Any:
    """The champion's registry entry (an MLflow ModelVersion: version, run_id, tags)."""
    client = connect(settings)
    try:
        return client.get_model_version_by_alias(
            model_name(settings, task), champion_alias(settings)
        )
    except MlflowException as error:
        raise ChampionNotFoundError(_missing(settings, task, error)) from None


@dataclass
class Champion:
    """A task's champion: the model training logged (its Python model, unwrapped from the MLflow
    pyfunc: ``features``, ``predict_matrix``, ``contributions``), its name and version."""

    task: str
    model: Any
    name: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def load_champion(settings: Settings, task: str) -> Champion:
    """A task's champion from the registry, or ChampionNotFoundError saying how to train it."""
    version = champion_version(settings, task).version
    try:
        model = mlflow.pyfunc.load_model(champion_uri(settings, task)).unwrap_python_model()
    except MlflowException as error:
        raise ChampionNotFoundError(_missing(settings, task, error)) from None
    return Champion(task, model, model_name(settings, task), str(version))


def _missing(settings: Settings, task: str, error: MlflowException) -> str:
    return (
        f"no model for task {task!r} ({model_name(settings, task)}@{champion_alias(settings)} in "
        f"{tracking_uri(settings)}): run `make train` first (or `python -m training "
        f"task={task}`; {error.message})"
    )


def logged_table(run_id: str, path: str) -> pd.DataFrame:
    """A table a run logged with ``mlflow.log_table`` (e.g. ``evaluation/decision_curve.json``),
    as a DataFrame."""
    table = mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    return pd.DataFrame(table["data"], columns=table["columns"])


# --------------------------------------------------------------------------------------------
# The names of the metrics training logs on a task's run


def metric_on_test(metric: str, bound: str = "") -> str:
    """A test metric, or the ``low`` or ``high`` end of its 95% interval."""
    return f"test_{metric}" + (f"_{bound}" if bound else "")


def baseline_metric(baseline: str, metric: str) -> str:
    return f"baseline_{baseline}_{metric}"


def oracle_metric(metric: str) -> str:
    return f"oracle_{metric}"


def ceiling_fraction(lift_metric: str, bound: str = "") -> str:
    """The share of the way from chance to the oracle the model goes, in AUROC or R2, or the
    ``low`` or ``high`` end of its 95% interval."""
    return f"ceiling_fraction_{lift_metric}" + (f"_{bound}" if bound else "")


def label_auroc(label: str) -> str:
    """The AUROC of the prediction for a further label of the task (e.g. 90-day readmission)."""
    return f"test_{label}_auroc"


PROSPECTIVE = "prospective"  # the artifact folder of the prospective validation on a run
TRANSPORT = "transport"  # ... of the leave-one-facility-out validation
REPORTS = "reports"  # ... of the TRIPOD+AI report and the model-facts label


def prospective_metric(metric: str, bound: str = "") -> str:
    """A metric of the prospective validation (``make decisions``) logged on the champion's run,
    or the ``low`` or ``high`` end of its 95% interval."""
    return f"{PROSPECTIVE}_{metric}" + (f"_{bound}" if bound else "")


def net_benefit_gain(baseline: str, bound: str = "") -> str:
    """The model's net benefit above a clinical score's, averaged over the decision curve's
    thresholds, or the ``low`` or ``high`` end of its 95% interval."""
    return f"net_benefit_gain_over_{baseline}" + (f"_{bound}" if bound else "")


def decision_best_share() -> str:
    """The share of the decision curve's thresholds where the model's net benefit is the best."""
    return "decision_curve_model_best_share"
