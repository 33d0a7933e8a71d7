"""From validated requests to predictions: cases, features (the batch pipeline's own functions),
calibrated predictions, risk bands, clinical scores and explanations. No HTTP here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd

import registry
from configs import Settings, vocabulary
from configs.serving import risk_band
from configs.training import TaskConfig
from features import cases as case_types
from features.interactions import KnowledgeBase
from serving import schemas


class ModelNotReadyError(RuntimeError):
    """A task has no usable model under the champion alias: say which and how to train it."""


@dataclass
class LoadedModel:
    task: str
    config: TaskConfig
    name: str
    version: str
    model: Any  # training's RiskModel, unwrapped from the MLflow pyfunc (its code ships with it)
    positions: np.ndarray  # where the model's features are among the case type's feature columns
    scores: list[str]  # the clinical scores among the features, returned beside the prediction

    def inputs(self, features: pd.DataFrame) -> np.ndarray:
        """The model's features, in its order, from a frame of the case type's feature columns."""
        return features.to_numpy()[:, self.positions]


def load_models(settings: Settings) -> dict[str, LoadedModel]:
    """Every task's champion from the registry."""
    loaded = {}
    for task in settings.task_names:
        config = settings.tasks[task]
        try:
            champion = registry.load_champion(settings, task)
        except registry.ChampionNotFoundError as error:
            raise ModelNotReadyError(str(error)) from None
        model = champion.model
        columns = case_types.feature_columns(config.case, settings.features.tasks.trend_hours)
        unknown = sorted(set(model.features) - set(columns))
        if unknown:
            raise ModelNotReadyError(
                f"{champion.label} uses features the feature code no longer makes "
                f"({unknown[:5]}): retrain it with `python -m training task={task}`"
            )
        positions = np.array([columns.index(feature) for feature in model.features])
        scores = [b for b in config.baselines if b in columns]
        loaded[task] = LoadedModel(
            task, config, champion.name, champion.version, model, positions, scores
        )
    return loaded


# What every stay-level case carries, as the schema says (the case id is the caller's own; the
# medication list becomes its codes).
STAY_FIELDS = tuple(
    name for name in schemas.Stay.model_fields if name not in ("case_id", "medications")
)


def _fields(cases: list, names: tuple[str, ...]) -> case_types.Columns:
    return {name: [getattr(case, name) for case in cases] for name in names}


def _lab_values(cases: list, field: str, tests: tuple[str, ...], which: str) -> case_types.Columns:
    """Per case, the ``first`` or ``last`` value of each test among its labs in ``field``."""
    values = {test: np.full(len(cases), np.nan) for test in tests}
    for row, case in enumerate(cases):
        for lab in sorted(getattr(case, field), key=attrgetter("drawn_at")):
            if lab.test in values and (which == "last" or np.isnan(values[lab.test][row])):
                values[lab.test][row] = lab.value
    return values


def _stay_columns(cases: list) -> case_types.Columns:
    """The fields every stay-level case has, its medication list as lists of codes."""
    return _fields(cases, STAY_FIELDS) | {
        "medication_codes": [[m.rxnorm_code for m in case.medications] for case in cases],
        "home_medication_codes": [
            [m.rxnorm_code for m in case.medications if m.source == case_types.HOME]
            for case in cases
        ],
    }


def admission_columns(cases: list[schemas.AdmissionCase]) -> case_types.Columns:
    """The admission cases as the columns of the batch pipeline's ``admission_cases``."""
    columns = _stay_columns(cases)
    first = [case.first_observation for case in cases]
    for sign in (*case_types.VITAL_SIGNS, "on_oxygen", "consciousness"):
        columns[f"admit_{sign}"] = [getattr(o, sign) if o else None for o in first]
    labs = _lab_values(cases, "admission_labs", vocabulary.LAB_TESTS, "first")
    return columns | {f"admit_{test}": values for test, values in labs.items()}


def discharge_columns(cases: list[schemas.DischargeCase]) -> case_types.Columns:
    """The discharge cases as the columns of the batch pipeline's ``discharge_cases``."""
    columns = _stay_columns(cases) | _fields(
        cases,
        ("icu_days", "discharge_disposition", "procedure_count", "complication", "deteriorated"),
    )
    columns["los_days"] = [
        (case.discharged_at - case.admitted_at).total_seconds() / 86400 for case in cases
    ]
    labs = _lab_values(cases, "discharge_labs", case_types.DISCHARGE_LABS, "last")
    return columns | {f"discharge_{test}": values for test, values in labs.items()}


def ward_features(
    cases: list[schemas.WardCase], trend_hours: list[int], kb: KnowledgeBase
) -> pd.DataFrame:
    """Ward features at each case's latest observation (earlier ones give trends)."""
    stays = _fields(
        cases,
        ("age_years", "sex", "admission_type", "primary_dx_code", "comorbidity_codes",
         "admitted_at"),
    )  # fmt: skip
    stays["stay_key"] = list(range(len(cases)))
    observations = [(row, o) for row, case in enumerate(cases) for o in case.observations]
    labs = [(row, lab) for row, case in enumerate(cases) for lab in case.labs]
    orders = [(row, order) for row, case in enumerate(cases) for order in case.medications]
    signs = (*case_types.VITAL_SIGNS, "on_oxygen", "consciousness", "observed_at")
    features = case_types.ward_features(
        stays,
        {"stay_key": [row for row, _ in observations]}
        | {sign: [getattr(o, sign) for _, o in observations] for sign in signs},
        {"stay_key": [row for row, _ in labs]}
        | {name: [getattr(lab, name) for _, lab in labs] for name in ("drawn_at", "test", "value")},
        {"stay_key": [row for row, _ in orders]}
        | {
            name: [getattr(order, name) for _, order in orders]
            for name in ("rxnorm_code", "source", "ordered_at", "stopped_at")
        },
        trend_hours,
        kb,
    )
    # The latest observation of each case (the last listed among equally timed ones).
    latest, at = {}, {}
    for position, (row, o) in enumerate(observations):
        if row not in at or o.observed_at >= at[row]:
            latest[row], at[row] = position, o.observed_at
    return features.iloc[[latest[row] for row in range(len(cases))]].reset_index(drop=True)


def features_for(case: str, cases: list, trend_hours: list[int], kb: KnowledgeBase) -> pd.DataFrame:
    """The case type's features of validated cases (``schemas.CASES[case]``)."""
    if case == case_types.ADMISSION:
        return case_types.admission_features(admission_columns(cases), kb)
    if case == case_types.DISCHARGE:
        return case_types.discharge_features(discharge_columns(cases), kb)
    return ward_features(cases, trend_hours, kb)


def predict(
    loaded: LoadedModel,
    cases: list,
    features: pd.DataFrame,
    explain: bool,
    top_features: int,
) -> list[schemas.Prediction]:
    inputs = loaded.inputs(features)
    values = loaded.model.predict_matrix(inputs.astype(np.float32))
    bands = loaded.config.risk_bands
    scores = {name: features[name].to_numpy() for name in loaded.scores}
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
