"""Typed schema of ``training.yaml`` (tracking, tuning storage, evaluation) and ``tasks/*.yaml``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import Strict

Family = Literal["xgboost", "lightgbm", "linear"]


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


GREATER_IS_BETTER = ("auroc", "auprc", "r2")  # the other metrics are errors: lower is better


class TaskConfig(Strict):
    table: str
    kind: Literal["binary", "regression"]
    target: str
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
    oracle: str
    alert: Alert | None = None
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
        return self

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
    tasks: Annotated[list[str], Field(min_length=1)]
