"""The deployable model: a tuned estimator, its calibration and its features, as MLflow loads it.

MLflow stores this file with every logged model ("models from code") and runs it when the model
is loaded, so the server needs nothing from the training package. Training uses the same class to
score and explain, so batch and served predictions come from one piece of code.

Artifacts: ``estimator`` (XGBoost JSON, LightGBM text or a joblib-saved scikit-learn pipeline)
and ``metadata`` (JSON: family, kind, features, calibration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

_EPSILON = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPSILON, 1 - _EPSILON)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate(scores: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Apply a fitted calibration map (none, Platt on the logit, isotonic) to raw probabilities."""
    method = calibration.get("method", "none")
    if method == "platt":
        return _sigmoid(calibration["slope"] * _logit(scores) + calibration["intercept"])
    if method == "isotonic":
        return np.interp(scores, calibration["x"], calibration["y"])
    return scores


class RiskModel(mlflow.pyfunc.PythonModel):
    """Calibrated probabilities (binary tasks) or expected values (regression tasks)."""

    metadata: dict[str, Any]
    estimator: Any

    def load_context(self, context) -> None:
        metadata = json.loads(Path(context.artifacts["metadata"]).read_text())
        self.configure(metadata, load_estimator(metadata["family"], context.artifacts["estimator"]))

    def configure(self, metadata: dict[str, Any], estimator: Any) -> RiskModel:
        self.metadata, self.estimator = metadata, estimator
        return self

    @property
    def features(self) -> list[str]:
        return self.metadata["features"]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's features, in order, as float32 (missing values stay NaN)."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"missing features: {missing[:5]}{'...' if len(missing) > 5 else ''}")
        return frame[self.features].to_numpy(dtype=np.float32, na_value=np.nan)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probability (binary) or value (regression)."""
        return self.raw_score_matrix(self.matrix(frame))

    def raw_score_matrix(self, x: np.ndarray) -> np.ndarray:
        """``raw_score`` on a matrix whose columns are already ``features``, in order."""
        family = self.metadata["family"]
        if family == "xgboost":
            return self.estimator.inplace_predict(x)
        if family == "lightgbm":
            return self.estimator.predict(x)
        transformed, final = self._linear_steps(x)
        if self.metadata["kind"] == "binary":
            return final.predict_proba(transformed)[:, 1]
        return final.predict(transformed)

    def _linear_steps(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """The linear pipeline's inputs to its final estimator, and that estimator. Calling the
        steps in turn gives what the pipeline gives without its per-call bookkeeping, which costs
        more than the arithmetic when a server scores one case."""
        *steps, final = [step for _, step in self.estimator.steps]
        for step in steps:
            x = step.transform(x)
        return x, final

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        return self.predict_matrix(self.matrix(model_input))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability or value from a matrix of ``features``, in order."""
        scores = self.raw_score_matrix(x)
        if self.metadata["kind"] == "binary":
            return calibrate(scores, self.metadata.get("calibration", {}))
        return scores

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Additive contributions of each feature to the raw output (log-odds for binary tasks),
        with a ``bias`` column: tree SHAP values for boosted trees, coefficient times standardised
        value for linear models."""
        values = self.contributions_matrix(self.matrix(frame))
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=frame.index)

    def contributions_matrix(self, x: np.ndarray) -> np.ndarray:
        """``contributions`` on a matrix of ``features``, in order; the last column is the bias."""
        family = self.metadata["family"]
        if family == "xgboost":
            import xgboost as xgb

            values = self.estimator.predict(
                xgb.DMatrix(x, feature_names=self.features), pred_contribs=True
            )
        elif family == "lightgbm":
            values = self.estimator.predict(x, pred_contrib=True)
        else:
            transformed, final = self._linear_steps(x)
            coefficients = np.ravel(final.coef_)
            values = np.column_stack(
                [transformed * coefficients, np.full(len(x), float(np.ravel(final.intercept_)[0]))]
            )
        return values


def load_estimator(family: str, path: str | Path) -> Any:
    if family == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        return booster
    if family == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    import joblib

    return joblib.load(path)


mlflow.models.set_model(RiskModel())
