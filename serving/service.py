"""The risk service (BentoML): readmission, length of stay, cost and deterioration endpoints.

    bentoml serve serving.service:RiskService      # or: make serve

Every prediction endpoint takes a list of cases in clinical terms and returns, per case, the
prediction, a risk band, the model and its registry version, the matching clinical score and, on
request, the top contributing features. Models load from the MLflow registry at start-up;
``/readyz`` stays false until all four are loaded, ``/info`` shows their versions.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
import uuid
from dataclasses import dataclass
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


@dataclass
class Waiting:
    """A request's cases, waiting to be scored."""

    cases: list
    arrived: float
    answer: asyncio.Future


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
        self.waiting: dict[tuple, list[Waiting]] = {}

    def __is_ready__(self) -> bool:
        return len(self.models) == len(SETTINGS.training.tasks)

    async def _answer(
        self, task: str, cases: list, explain: bool, top_features: int
    ) -> schemas.Predictions:
        """Score a request's cases together with those of the requests that arrived alongside it.

        The feature and model code costs about the same for one case as for a few, so under load
        the server scores what has arrived in one pass; alone, a request is scored at once. The
        first request to arrive leads: it lets the requests already read reach this point, then
        scores them all and answers each.
        """
        key = (task, explain, top_features)
        waiting = self.waiting.setdefault(key, [])
        answer = asyncio.get_running_loop().create_future()
        waiting.append(Waiting(cases, time.perf_counter(), answer))
        if len(waiting) == 1:
            try:
                await asyncio.sleep(0)
            finally:  # even if this request is cancelled, the others get their answers
                del self.waiting[key]
                self._score_together(task, explain, top_features, waiting)
        return await answer

    def _score_together(
        self, task: str, explain: bool, top_features: int, requests: list[Waiting]
    ) -> None:
        loaded = self.models[task]
        try:
            cases = [case for request in requests for case in request.cases]
            features = scoring.features_for(task, cases, self.trend_hours)
            predictions = scoring.predict(
                loaded, cases, features, SETTINGS.serving.risk_bands[task], explain, top_features
            )
        except Exception as error:  # each waiting request fails with it, none hangs
            for request in requests:
                if not request.answer.done():  # a request cancelled meanwhile is done
                    request.answer.set_exception(error)
            return
        finished, at = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
        audit, start = [], 0
        for request in requests:
            end = start + len(request.cases)
            request_id = uuid.uuid4().hex
            latency_ms = (finished - request.arrived) * 1000
            audit.append(
                scoring.audit_lines(
                    task, loaded, features.iloc[start:end], predictions[start:end],
                    request_id, latency_ms, at,
                )
            )  # fmt: skip
            if not request.answer.done():
                request.answer.set_result(
                    schemas.Predictions(request_id=request_id, predictions=predictions[start:end])
                )
            start = end
        # One unbuffered append: whole lines, even with several server processes.
        with self.audit_path.open("ab", buffering=0) as log:
            log.write(b"".join(audit))

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
        return await self._answer("readmission", cases, explain, top_features)

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
        return await self._answer("los", cases, explain, top_features)

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
        return await self._answer("cost", cases, explain, top_features)

    @bentoml.api(route="/deterioration")
    async def deterioration(
        self,
        cases: Annotated[list[schemas.WardCase], Field(min_length=1, max_length=schemas.MAX_CASES)],
        explain: bool = False,
        top_features: TopFeatures = 5,
    ) -> schemas.Predictions:
        """Risk of ICU transfer, rapid response or death within 24 h (with NEWS2)."""
        return await self._answer("deterioration", cases, explain, top_features)

    @bentoml.api(route="/info")
    async def info(self) -> dict:
        """The loaded models and their registry versions."""
        return {task: {"model": m.name, "version": m.version} for task, m in self.models.items()}


RiskService.add_asgi_middleware(ApiKeyMiddleware)
