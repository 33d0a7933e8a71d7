"""From validated requests to predictions: cases, features (the batch pipeline's own functions),
calibrated predictions, risk bands, clinical scores and explanations. No HTTP here."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import mlflow
import numpy as np
import orjson
import pandas as pd

from configs import Settings
from configs.serving import risk_band
from features import tasks
from serving import schemas

CLINICAL_SCORES = {
    "readmission": ["lace_score", "hospital_score"],
    "deterioration": ["news2_score"],
}


class ModelNotReadyError(RuntimeError):
    """A task has no registered model under the alias: say which and how to train it."""


@dataclass
class LoadedModel:
    task: str
    name: str
    version: str
    model: Any  # training's RiskModel, unwrapped from the MLflow pyfunc (its code ships with it)
    positions: np.ndarray  # where the model's features are among the task's feature columns

    def inputs(self, features: pd.DataFrame) -> np.ndarray:
        """The model's features, in its order, from a frame of the task's feature columns."""
        return features.to_numpy()[:, self.positions]


def load_models(settings: Settings) -> dict[str, LoadedModel]:
    """Every task's model from the registry (``models:/<prefix>-<task>@<alias>``)."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(settings.training.tracking_uri)
    client = mlflow.MlflowClient()
    loaded = {}
    for task in settings.training.tasks:
        name = f"{settings.training.registry_prefix}-{task}"
        alias = settings.serving.model_alias
        try:
            version = client.get_model_version_by_alias(name, alias).version
            pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
        except mlflow.exceptions.MlflowException as error:
            raise ModelNotReadyError(
                f"no model for task {task!r} ({name}@{alias} in {mlflow.get_tracking_uri()}): "
                f"run `make train` (or `python -m training task={task}`) first ({error.message})"
            ) from None
        model = pyfunc.unwrap_python_model()
        columns = tasks.feature_columns(task, settings.features.tasks.trend_hours)
        unknown = sorted(set(model.features) - set(columns))
        if unknown:
            raise ModelNotReadyError(
                f"{name}@{alias} uses features the feature code no longer makes ({unknown[:5]}): "
                f"retrain it with `python -m training task={task}`"
            )
        positions = np.array([columns.index(feature) for feature in model.features])
        loaded[task] = LoadedModel(task, name, str(version), model, positions)
    return loaded


# What every stay-level case carries, as the schema says (the case id is the caller's own).
STAY_FIELDS = tuple(name for name in schemas.Stay.model_fields if name != "case_id")


def _fields(cases: list, names: tuple[str, ...]) -> tasks.Columns:
    return {name: [getattr(case, name) for case in cases] for name in names}


def _lab_values(cases: list, field: str, tests: tuple[str, ...], which: str) -> tasks.Columns:
    """Per case, the ``first`` or ``last`` value of each test among its labs in ``field``."""
    values = {test: np.full(len(cases), np.nan) for test in tests}
    for row, case in enumerate(cases):
        for lab in sorted(getattr(case, field), key=attrgetter("drawn_at")):
            if lab.test in values and (which == "last" or np.isnan(values[lab.test][row])):
                values[lab.test][row] = lab.value
    return values


def admission_columns(cases: list[schemas.AdmissionCase]) -> tasks.Columns:
    """The admission cases as the columns of the batch pipeline's ``admission_cases``."""
    columns = _fields(cases, STAY_FIELDS)
    first = [case.first_observation for case in cases]
    for sign in (*tasks.VITAL_SIGNS, "on_oxygen", "consciousness"):
        columns[f"admit_{sign}"] = [getattr(o, sign) if o else None for o in first]
    labs = _lab_values(cases, "admission_labs", tasks.LAB_TESTS, "first")
    return columns | {f"admit_{test}": values for test, values in labs.items()}


def discharge_columns(cases: list[schemas.DischargeCase]) -> tasks.Columns:
    """The discharge cases as the columns of the batch pipeline's ``discharge_cases``."""
    columns = _fields(
        cases,
        (*STAY_FIELDS, "icu_days", "discharge_disposition", "procedure_count", "complication",
         "deteriorated"),
    )  # fmt: skip
    columns["los_days"] = [
        (case.discharged_at - case.admitted_at).total_seconds() / 86400 for case in cases
    ]
    labs = _lab_values(cases, "discharge_labs", tasks.DISCHARGE_LABS, "last")
    return columns | {f"discharge_{test}": values for test, values in labs.items()}


def ward_features(cases: list[schemas.WardCase], trend_hours: list[int]) -> pd.DataFrame:
    """Deterioration features at each case's latest observation (earlier ones give trends)."""
    stays = _fields(
        cases,
        ("age_years", "sex", "admission_type", "primary_dx_code", "comorbidity_codes",
         "admitted_at"),
    )  # fmt: skip
    stays["stay_key"] = list(range(len(cases)))
    observations = [(row, o) for row, case in enumerate(cases) for o in case.observations]
    labs = [(row, lab) for row, case in enumerate(cases) for lab in case.labs]
    signs = (*tasks.VITAL_SIGNS, "on_oxygen", "consciousness", "observed_at")
    features = tasks.deterioration_features(
        stays,
        {"stay_key": [row for row, _ in observations]}
        | {sign: [getattr(o, sign) for _, o in observations] for sign in signs},
        {"stay_key": [row for row, _ in labs]}
        | {name: [getattr(lab, name) for _, lab in labs] for name in ("drawn_at", "test", "value")},
        trend_hours,
    )
    # The latest observation of each case (the last listed among equally timed ones).
    latest, at = {}, {}
    for position, (row, o) in enumerate(observations):
        if row not in at or o.observed_at >= at[row]:
            latest[row], at[row] = position, o.observed_at
    return features.iloc[[latest[row] for row in range(len(cases))]].reset_index(drop=True)


def features_for(task: str, cases: list, trend_hours: list[int]) -> pd.DataFrame:
    if task == "readmission":
        return tasks.readmission_features(discharge_columns(cases))
    if task in ("los", "cost"):
        return tasks.admission_features(admission_columns(cases))
    return ward_features(cases, trend_hours)


def predict(
    loaded: LoadedModel,
    cases: list,
    features: pd.DataFrame,
    bands: tuple[float, float],
    explain: bool,
    top_features: int,
) -> list[schemas.Prediction]:
    inputs = loaded.inputs(features)
    values = loaded.model.predict_matrix(inputs.astype(np.float32))
    scores = {name: features[name].to_numpy() for name in CLINICAL_SCORES.get(loaded.task, [])}
    explanations = _explanations(loaded, inputs, top_features) if explain else [None] * len(cases)
    return [
        schemas.Prediction(
            case_id=case.case_id,
            prediction=float(value),
            risk_band=band,
            model=loaded.name,
            model_version=loaded.version,
            clinical_score={
                name: float(column[row])
                for name, column in scores.items()
                if not math.isnan(column[row])
            },
            explanation=explanation,
        )
        for row, (case, value, band, explanation) in enumerate(
            zip(cases, values, risk_band(values, bands), explanations, strict=True)
        )
    ]


def _explanations(loaded: LoadedModel, values: np.ndarray, top_features: int) -> list[list]:
    """Per case, the features with the largest contributions, largest first, with their values."""
    model = loaded.model
    frame = pd.DataFrame(values, columns=model.features, copy=False)
    contributions = model.contributions(frame)[model.features].to_numpy()
    ranked = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top_features]
    return [
        [
            schemas.Contribution(
                feature=model.features[column],
                value=None if np.isnan(values[row, column]) else float(values[row, column]),
                contribution=float(contributions[row, column]),
            )
            for column in columns
        ]
        for row, columns in enumerate(ranked)
    ]


def audit_lines(
    task: str, loaded: LoadedModel, features: pd.DataFrame, predictions: list[schemas.Prediction],
    request_id: str, latency_ms: float, at: str,
) -> bytes:  # fmt: skip
    """One JSON line per prediction, all in one block to append: the feature columns as in the
    feature tables (missing values as null), no identifier."""
    names = features.columns.tolist()
    context = {
        "time": at,
        "request_id": request_id,
        "endpoint": task,
        "model": loaded.name,
        "model_version": loaded.version,
        "latency_ms": round(latency_ms, 3),
    }
    return b"".join(
        orjson.dumps(context | {"prediction": p.prediction} | dict(zip(names, row, strict=True)))
        + b"\n"
        for p, row in zip(predictions, features.to_numpy().tolist(), strict=True)
    )
