"""Typed schema of ``training.yaml`` (tracking, tuning storage, evaluation) and ``tasks/*.yaml``.

A task's YAML is its only declaration: what it predicts and when, the case the server takes, its
baselines, oracle, risk bands and alert rule, and how it is tuned. Every stage reads it here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import Strict

Family = Literal["xgboost", "lightgbm", "linear"]
# The prediction points and features a task is built on (see features/cases.py).
CaseType = Literal["admission", "discharge", "ward"]
TASK_NAME = r"^[a-z][a-z0-9_]*$"  # also the server's route and the registered model's suffix


class SearchParam(Strict):
    """One hyperparameter's search range (int or float, optionally on a log scale) or choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs choices")
        elif self.low is None or self.high is None or self.low >= self.high:
            raise ValueError("a numeric parameter needs low < high")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        return self


class Alert(Strict):
    """The clinical score's usual trigger, to compare operating points like with like."""

    baseline: str
    threshold: float


class Published(Strict):
    """A clinical score's published discrimination, for the realism check of the world."""

    outcome: str
    auroc: str  # as published, e.g. "0.71-0.72"
    source: str
    plausible: tuple[float, float]  # the AUROC range a realistic world gives


class Budget(Strict):
    """Caps on every task's search (a profile's quick runs); unset: each task's own budget."""

    max_trials: Annotated[int, Field(ge=1)] | None = None
    max_timeout_seconds: Annotated[float, Field(gt=0)] | None = None


class Scale(Strict):
    """How a feature table too large to hold whole is trained on (see the README, at scale)."""

    in_memory_rows: Annotated[int, Field(ge=10_000)]
    validation_rows: Annotated[int, Field(ge=1_000)]
    test_rows: Annotated[int, Field(ge=1_000)]
    linear_rows: Annotated[int, Field(ge=1_000)]


GREATER_IS_BETTER = ("auroc", "auprc", "r2")  # the other metrics are errors: lower is better


class TaskConfig(Strict):
    title: Annotated[str, Field(min_length=1, max_length=60)]
    question: Annotated[str, Field(min_length=1)]
    intended_use: Annotated[str, Field(min_length=1)]
    case: CaseType
    table: Annotated[str, Field(pattern=TASK_NAME)]
    kind: Literal["binary", "regression"]
    target: str
    labels: list[str] = Field(default_factory=list)
    unit: str = "probability"
    metric: Literal["auroc", "auprc", "brier", "rmse", "mae", "r2"]
    families: Annotated[list[Family], Field(min_length=1)]
    trials: Annotated[int, Field(ge=1, le=10_000)]
    timeout_seconds: Annotated[float, Field(gt=0)]
    max_rounds: Annotated[int, Field(ge=10, le=20_000)]
    early_stopping_rounds: Annotated[int, Field(ge=5, le=1_000)]
    tuning_rows: Annotated[int, Field(ge=1_000)] | None = None
    calibration: Literal["auto", "none", "platt", "isotonic"] = "none"
    monotone: dict[str, Literal[-1, 1]] = Field(default_factory=dict)
    baselines: list[str]
    published: dict[str, Published] = Field(default_factory=dict)
    oracle: str
    oracles: list[str] = Field(default_factory=list)
    risk_bands: tuple[float, float]
    alert: Alert | None = None
    # Binary tasks: the threshold probabilities at which acting on a risk is clinically
    # reasonable, the range of the decision curve (net benefit) and of its summary.
    decision_thresholds: tuple[float, float] | None = None
    # The share of the oracle's lift over no skill (AUROC or R2) the task aims for: judged on the
    # prospective period (make decisions); None: no goal set.
    ceiling_goal: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    bucketed_kappa: bool = False
    champion_margin: Annotated[float, Field(ge=0.0)]
    search: dict[Family, dict[str, SearchParam]]

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        binary_metrics, regression_metrics = {"auroc", "auprc", "brier"}, {"rmse", "mae", "r2"}
        if self.metric not in (binary_metrics if self.kind == "binary" else regression_metrics):
            raise ValueError(f"metric {self.metric!r} does not fit a {self.kind} task")
        if self.kind == "regression" and self.calibration != "none":
            raise ValueError("calibration applies to binary tasks only")
        if missing := [f for f in self.families if f not in self.search]:
            raise ValueError(f"no search space for {missing}")
        if self.labels and self.labels[0] != self.target:
            raise ValueError(f"labels must start with the target {self.target!r}")
        if self.oracles and self.oracles[0] != self.oracle:
            raise ValueError(f"oracles must start with the oracle {self.oracle!r}")
        if self.risk_bands[0] >= self.risk_bands[1]:
            raise ValueError("risk_bands: the low band's bound must be below the high one's")
        if unknown := sorted(set(self.published) - set(self.baselines)):
            raise ValueError(f"published figures for {unknown}, which are not baselines")
        if self.kind == "binary" and self.decision_thresholds is None:
            raise ValueError("a binary task needs decision_thresholds (low, high)")
        if self.decision_thresholds is not None:
            low, high = self.decision_thresholds
            if not 0 < low < high < 1:
                raise ValueError("decision_thresholds: need 0 < low < high < 1")
        if self.alert is not None and self.alert.baseline not in self.baselines:
            raise ValueError(f"the alert's baseline {self.alert.baseline!r} is not a baseline")
        return self

    def within(self, budget: Budget) -> TaskConfig:
        """This task with its search capped by ``budget``."""
        trials, seconds = budget.max_trials, budget.max_timeout_seconds
        return self.model_copy(
            update={
                "trials": min(self.trials, trials or self.trials),
                "timeout_seconds": min(self.timeout_seconds, seconds or self.timeout_seconds),
            }
        )

    @property
    def label_columns(self) -> list[str]:
        """Every label kept in the table, the target first."""
        return self.labels or [self.target]

    @property
    def oracle_columns(self) -> list[str]:
        """Every oracle value kept in the table, the ceiling's first."""
        return self.oracles or [self.oracle]

    @property
    def greater_is_better(self) -> bool:
        return self.metric in GREATER_IS_BETTER


class TrainingConfig(Strict):
    tracking_uri: str
    artifact_location: str
    experiment_prefix: str
    registry_prefix: str
    optuna_storage: str
    seed: Annotated[int, Field(ge=0)]
    bootstrap_resamples: Annotated[int, Field(ge=10, le=10_000)]
    calibration_bins: Annotated[int, Field(ge=5, le=50)]
    shap_rows: Annotated[int, Field(ge=50)]
    champion_alias: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
    tasks: Annotated[list[str], Field(min_length=1)] | None
    budget: Budget = Field(default_factory=Budget)
    scale: Scale
