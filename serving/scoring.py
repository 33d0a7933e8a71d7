"""From validated requests to predictions: cases, features (the batch pipeline's own functions),
calibrated predictions, risk bands, clinical scores and explanations. No HTTP here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from configs import Settings
from features import tasks
from serving import schemas

TASK_OF_ENDPOINT = {
    "readmission": "readmission",
    "los": "los",
    "cost": "cost",
    "deterioration": "deterioration",
}
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
        loaded[task] = LoadedModel(task, name, str(version), pyfunc.unwrap_python_model())
    return loaded


def _labs_wide(cases: list, field: str, which: str) -> pd.DataFrame:
    """Per case, the first or last value of each test among the case's labs in ``field``."""
    rows = [
        {"case": i, "drawn_at": lab.drawn_at, "test": lab.test, "value": lab.value}
        for i, case in enumerate(cases)
        for lab in getattr(case, field)
    ]
    if not rows:
        return pd.DataFrame(index=range(len(cases)), columns=list(tasks.LAB_TESTS), dtype=float)
    frame = pd.DataFrame(rows).sort_values("drawn_at", kind="stable")
    wide = frame.groupby(["case", "test"])["value"].agg(which).unstack()
    return wide.reindex(index=range(len(cases)), columns=list(tasks.LAB_TESTS))


def admission_frame(cases: list[schemas.AdmissionCase]) -> pd.DataFrame:
    """The admission cases as the batch pipeline's ``admission_cases`` frame."""
    frame = pd.DataFrame(
        [c.model_dump(exclude={"first_observation", "admission_labs"}) for c in cases]
    )
    for sign in (*tasks.VITAL_SIGNS, "on_oxygen", "consciousness"):
        frame[f"admit_{sign}"] = [
            getattr(c.first_observation, sign) if c.first_observation else None for c in cases
        ]
    labs = _labs_wide(cases, "admission_labs", "first")
    for test in tasks.LAB_TESTS:
        frame[f"admit_{test}"] = labs[test].to_numpy(dtype=float)
    return frame


def discharge_frame(cases: list[schemas.DischargeCase]) -> pd.DataFrame:
    """The discharge cases as the batch pipeline's ``discharge_cases`` frame."""
    frame = pd.DataFrame([c.model_dump(exclude={"discharge_labs"}) for c in cases])
    frame["los_days"] = (frame["discharged_at"] - frame["admitted_at"]).dt.total_seconds() / 86400
    labs = _labs_wide(cases, "discharge_labs", "last")
    for test in tasks.DISCHARGE_LABS:
        frame[f"discharge_{test}"] = labs[test].to_numpy(dtype=float)
    return frame


def ward_features(cases: list[schemas.WardCase], trend_hours: list[int]) -> pd.DataFrame:
    """Deterioration features at each case's latest observation."""
    stays = pd.DataFrame(
        [
            c.model_dump(exclude={"observations", "labs"}) | {"stay_key": str(i)}
            for i, c in enumerate(cases)
        ]
    )
    observations = pd.DataFrame(
        [o.model_dump() | {"stay_key": str(i)} for i, c in enumerate(cases) for o in c.observations]
    )
    labs = pd.DataFrame(
        [lab.model_dump() | {"stay_key": str(i)} for i, c in enumerate(cases) for lab in c.labs],
        columns=["stay_key", "drawn_at", "test", "value"],
    )
    features = tasks.deterioration_features(stays, observations, labs, trend_hours)
    latest = observations.assign(row=np.arange(len(observations))).sort_values(
        "observed_at", kind="stable"
    )
    last_rows = latest.groupby("stay_key", sort=False)["row"].last()
    return features.iloc[[last_rows[str(i)] for i in range(len(cases))]].reset_index(drop=True)


def features_for(task: str, cases: list, trend_hours: list[int]) -> pd.DataFrame:
    if task == "readmission":
        return tasks.readmission_features(discharge_frame(cases))
    if task in ("los", "cost"):
        return tasks.admission_features(admission_frame(cases))
    return ward_features(cases, trend_hours)


def risk_band(values: np.ndarray, bounds: tuple[float, float]) -> list[str]:
    return np.select([values < bounds[0], values < bounds[1]], ["low", "medium"], "high").tolist()


def predict(
    loaded: LoadedModel,
    cases: list,
    features: pd.DataFrame,
    bands: tuple[float, float],
    explain: bool,
    top_features: int,
) -> list[schemas.Prediction]:
    model = loaded.model
    values = model.predict_matrix(model.matrix(features))
    contributions = model.contributions(features) if explain else None
    scores = CLINICAL_SCORES.get(loaded.task, [])
    results = []
    for row, (case, value, band) in enumerate(
        zip(cases, values, risk_band(values, bands), strict=True)
    ):
        explanation = None
        if contributions is not None:
            ranked = (
                contributions.iloc[row]
                .drop("bias")
                .abs()
                .sort_values(ascending=False)
                .index[:top_features]
            )
            explanation = [
                schemas.Contribution(
                    feature=name,
                    value=None
                    if pd.isna(features.iloc[row][name])
                    else float(features.iloc[row][name]),
                    contribution=float(contributions.iloc[row][name]),
                )
                for name in ranked
            ]
        results.append(
            schemas.Prediction(
                case_id=case.case_id,
                prediction=float(value),
                risk_band=band,
                model=loaded.name,
                model_version=loaded.version,
                clinical_score={
                    s: float(features.iloc[row][s])
                    for s in scores
                    if pd.notna(features.iloc[row][s])
                },
                explanation=explanation,
            )
        )
    return results


def audit_lines(
    task: str, loaded: LoadedModel, features: pd.DataFrame, predictions: list[schemas.Prediction],
    request_id: str, latency_ms: float, at: str,
) -> list[str]:  # fmt: skip
    """One JSON line per prediction: the feature columns as in the feature tables, no identifier."""
    rows = (
        features[loaded.model.features]
        .astype(float)
        .replace({np.nan: None})
        .to_dict(orient="records")
    )
    return [
        json.dumps(
            {
                "time": at,
                "request_id": request_id,
                "endpoint": task,
                "model": loaded.name,
                "model_version": loaded.version,
                "latency_ms": round(latency_ms, 3),
                "prediction": p.prediction,
                **row,
            }
        )
        for p, row in zip(predictions, rows, strict=True)
    ]
