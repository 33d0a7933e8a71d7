"""Fitting the model families (XGBoost, LightGBM, a linear floor) and choosing a calibration."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import xgboost as xgb
from scipy.linalg import LinAlgWarning
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training.pyfunc_model import RiskModel, calibrate

# Native evaluation metric of the boosters for each validation metric (early stopping, pruning).
XGBOOST_METRIC = {
    "auroc": "auc",
    "auprc": "aucpr",
    "brier": "logloss",
    "rmse": "rmse",
    "mae": "mae",
    "r2": "rmse",
}
LIGHTGBM_METRIC = {
    "auroc": "auc",
    "auprc": "average_precision",
    "brier": "binary_logloss",
    "rmse": "rmse",
    "mae": "l1",
    "r2": "rmse",
}


@dataclass
class Fitted:
    family: str
    kind: str
    features: list[str]
    estimator: Any
    rounds: int  # boosting rounds used (best iteration with early stopping); 0 for linear

    def model(self, calibration: dict[str, Any] | None = None) -> RiskModel:
        metadata = {
            "family": self.family,
            "kind": self.kind,
            "features": self.features,
            "rounds": self.rounds,
            "calibration": calibration or {"method": "none"},
        }
        return RiskModel().configure(metadata, self.estimator)


def fit(
    family: str,
    kind: str,
    params: dict[str, Any],
    features: list[str],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    metric: str,
    max_rounds: int,
    early_stopping_rounds: int,
    monotone: dict[str, int],
    seed: int,
    callbacks: list[Callable] | None = None,
    quantised: bool = False,
) -> Fitted:
    """Fit one family; with ``validation`` boosting stops early on it, else runs ``max_rounds``.

    ``quantised``: XGBoost bins the features straight into its histogram matrix
    (``QuantileDMatrix``, a quarter of the float32 matrix's memory, with no copy of it in
    between), for a table at scale.
    """
    x, y = train
    constraints = [monotone.get(f, 0) for f in features]
    if family == "xgboost":
        booster_params = {
            "objective": "binary:logistic" if kind == "binary" else "reg:squarederror",
            "eval_metric": XGBOOST_METRIC[metric],
            "tree_method": "hist",
            "nthread": 2,
            "seed": seed,
            "monotone_constraints": "(" + ",".join(map(str, constraints)) + ")",
            **params,
        }
        if quantised:
            dtrain = xgb.QuantileDMatrix(x, label=y, feature_names=features, nthread=2)
        else:
            dtrain = xgb.DMatrix(x, label=y, feature_names=features)
        evals = (
            [
                (
                    xgb.QuantileDMatrix(
                        validation[0], label=validation[1], feature_names=features, ref=dtrain
                    )
                    if quantised
                    else xgb.DMatrix(validation[0], label=validation[1], feature_names=features),
                    "validation",
                )
            ]
            if validation
            else []
        )
        booster = xgb.train(
            booster_params,
            dtrain,
            num_boost_round=max_rounds,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds if validation else None,
            callbacks=callbacks or [],
            verbose_eval=False,
        )
        rounds = booster.best_iteration + 1 if validation else max_rounds
        return Fitted(family, kind, features, booster[:rounds] if validation else booster, rounds)
    if family == "lightgbm":
        booster_params = {
            "objective": "binary" if kind == "binary" else "regression",
            "metric": LIGHTGBM_METRIC[metric],
            "num_threads": 2,
            "seed": seed,
            "verbosity": -1,
            "bagging_freq": 1,
            "monotone_constraints": constraints,
            **params,
        }
        dtrain = lgb.Dataset(x, label=y, feature_name=features, free_raw_data=False)
        valid_sets, stop = [], []
        if validation:
            valid_sets = [lgb.Dataset(validation[0], label=validation[1], reference=dtrain)]
            stop = [lgb.early_stopping(early_stopping_rounds, verbose=False)]
        booster = lgb.train(
            booster_params,
            dtrain,
            num_boost_round=max_rounds,
            valid_sets=valid_sets,
            valid_names=["validation"] if validation else None,
            callbacks=[*stop, *(callbacks or [])],
        )
        rounds = (
            booster.best_iteration
            if validation and booster.best_iteration > 0
            else booster.current_iteration()
        )
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
        return Fitted(family, kind, features, booster, rounds)
    strength = params["strength"]
    estimator = (
        LogisticRegression(C=strength, max_iter=2000)
        if kind == "binary"
        else Ridge(alpha=1.0 / strength)
    )
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", estimator),
        ]
    )
    with warnings.catch_warnings():
        # A field's one-hot levels sum to one, collinear with the intercept: the ridge penalty
        # resolves it, but scipy warns of the ill-conditioned matrix all the same.
        warnings.simplefilter("ignore", LinAlgWarning)
        pipeline.fit(x, y)
    return Fitted(family, kind, features, pipeline, 0)


def save_estimator(fitted: Fitted, folder: Path) -> Path:
    if fitted.family == "xgboost":
        path = folder / "estimator.json"
        fitted.estimator.save_model(str(path))
    elif fitted.family == "lightgbm":
        path = folder / "estimator.txt"
        fitted.estimator.save_model(str(path))
    else:
        path = folder / "estimator.joblib"
        joblib.dump(fitted.estimator, path)
    return path


def save_metadata(model: RiskModel, folder: Path) -> Path:
    path = folder / "metadata.json"
    path.write_text(json.dumps(model.metadata, indent=2))
    return path


# --------------------------------------------------------------------------------------------
# Calibration


def fit_calibration(method: str, scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    if method == "platt":
        logit = np.log(np.clip(scores, 1e-7, 1 - 1e-7) / (1 - np.clip(scores, 1e-7, 1 - 1e-7)))
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, None], labels)
        return {
            "method": "platt",
            "slope": float(fitted.coef_[0, 0]),
            "intercept": float(fitted.intercept_[0]),
        }
    if method == "isotonic":
        fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
        return {
            "method": "isotonic",
            "x": fitted.X_thresholds_.tolist(),
            "y": fitted.y_thresholds_.tolist(),
        }
    return {"method": "none"}


def choose_calibration(
    requested: str, scores: np.ndarray, labels: np.ndarray, seed: int, folds: int = 5
) -> tuple[str, dict[str, float]]:
    """The calibration with the lowest cross-validated Brier score on validation predictions.

    Each fold needs both outcomes: with fewer events (or non-events) than ``folds``, fewer folds;
    with fewer than two, no choice can be made on these rows and the scores stay uncalibrated."""
    candidates = ["none", "platt", "isotonic"] if requested == "auto" else [requested]
    folds = min(folds, int(np.bincount(labels.astype(np.int64), minlength=2).min()))
    if folds < 2:
        return "none", {}
    brier = {}
    for method in candidates:
        errors = []
        for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            scores, labels
        ):
            mapping = fit_calibration(method, scores[fit_rows], labels[fit_rows])
            errors.append(np.mean((calibrate(scores[test_rows], mapping) - labels[test_rows]) ** 2))
        brier[method] = float(np.mean(errors))
    return min(brier, key=brier.get), brier
