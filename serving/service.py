"""The risk service (BentoML): readmission, length of stay, cost and deterioration endpoints.

    bentoml serve serving.service:RiskService      # or: make serve

Every prediction endpoint takes a list of cases in clinical terms and returns, per case, the
prediction, a risk band, the model and its registry version, the matching clinical score and, on
request, the top contributing features. Models load from the MLflow registry at start-up;
``/readyz`` stays false until all four are loaded, ``/info`` shows their versions.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated

import bentoml
from pydantic import Field
from starlette.responses import JSONResponse

from configs import load_settings
from serving import schemas, scoring

SETTINGS = load_settings()
PREDICTION_PATHS = ("/readmission", "/los", "/cost", "/deterioration", "/info")
TopFeatures = Annotated[int, Field(ge=1, le=30)]


class ApiKeyMiddleware:
    """With an API key configured, prediction paths need ``Authorization: Bearer <key>``; health,
    schema and docs stay open (clients fetch /schema.json before they call). Plain ASGI: it adds
    next to nothing to a request."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        key = os.environ.get(SETTINGS.serving.api_key_env)
        if key and scope["type"] == "http" and scope["path"].startswith(PREDICTION_PATHS):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {key}".encode()):
                refusal = JSONResponse(
                    {"error": "missing or wrong API key (Authorization: Bearer <key>)"},
                    status_code=401,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


@bentoml.service(
    name="hospital-risk",
    workers=SETTINGS.serving.processes,
    traffic={"timeout": 30, "max_concurrency": 128},
)
class RiskService:
    def __init__(self) -> None:
        self.models = scoring.load_models(SETTINGS)
        self.trend_hours = SETTINGS.features.tasks.trend_hours
        self.audit_path = Path(SETTINGS.serving.audit_log)
        self.audit_path.parent.mkdir(parents=True, exist_ok=True)
        self.audit_lock = threading.Lock()

    def __is_ready__(self) -> bool:
        return len(self.models) == len(SETTINGS.training.tasks)

    def _score(
        self, task: str, cases: list, explain: bool, top_features: int
    ) -> schemas.Predictions:
        started = time.perf_counter()
        loaded = self.models[task]
        features = scoring.features_for(task, cases, self.trend_hours)
        predictions = scoring.predict(
            loaded, cases, features, SETTINGS.serving.risk_bands[task], explain, top_features
        )
        latency_ms = (time.perf_counter() - started) * 1000
        request_id = uuid.uuid4().hex
        audit = scoring.audit_lines(
            task,
            loaded,
            features,
            predictions,
            request_id,
            latency_ms,
            time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        # One unbuffered append per request: whole lines, even with several server processes.
        with self.audit_lock, self.audit_path.open("ab", buffering=0) as log:
            log.write(audit)
        return schemas.Predictions(request_id=request_id, predictions=predictions)

    @bentoml.api(route="/readmission")
    async def readmission(
        self,
        cases: Annotated[
            list[schemas.DischargeCase], Field(min_length=1, max_length=schemas.MAX_CASES)
        ],
        explain: bool = False,
        top_features: TopFeatures = 5,
    ) -> schemas.Predictions:
        """Risk of unplanned readmission within 30 days, at discharge (with LACE and HOSPITAL)."""
        return self._score("readmission", cases, explain, top_features)

    @bentoml.api(route="/los")
    async def los(
        self,
        cases: Annotated[
            list[schemas.AdmissionCase], Field(min_length=1, max_length=schemas.MAX_CASES)
        ],
        explain: bool = False,
        top_features: TopFeatures = 5,
    ) -> schemas.Predictions:
        """Expected length of stay in days, at admission."""
        return self._score("los", cases, explain, top_features)

    @bentoml.api(route="/cost")
    async def cost(
        self,
        cases: Annotated[
            list[schemas.AdmissionCase], Field(min_length=1, max_length=schemas.MAX_CASES)
        ],
        explain: bool = False,
        top_features: TopFeatures = 5,
    ) -> schemas.Predictions:
        """Expected cost of the stay in USD, at admission."""
        return self._score("cost", cases, explain, top_features)

    @bentoml.api(route="/deterioration")
    async def deterioration(
        self,
        cases: Annotated[list[schemas.WardCase], Field(min_length=1, max_length=schemas.MAX_CASES)],
        explain: bool = False,
        top_features: TopFeatures = 5,
    ) -> schemas.Predictions:
        """Risk of ICU transfer, rapid response or death within 24 h (with NEWS2)."""
        return self._score("deterioration", cases, explain, top_features)

    @bentoml.api(route="/info")
    async def info(self) -> dict:
        """The loaded models and their registry versions."""
        return {task: {"model": m.name, "version": m.version} for task, m in self.models.items()}


RiskService.add_asgi_middleware(ApiKeyMiddleware)
