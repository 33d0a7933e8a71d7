"""The risk service (BentoML): one endpoint per task declared in configs/tasks/.

    bentoml serve serving.service:RiskService      # or: make serve

Every prediction endpoint (``POST /<task>``) takes a list of cases of the task's case type in
clinical terms and returns, per case, the prediction, a risk band, the model and its registry
version, the matching clinical score and, on request, the top contributing features. Models load
from the MLflow registry at start-up; ``/readyz`` stays false until all are loaded, ``/info``
shows their versions. Every path but the open ones of ``configs/serving.yaml`` needs the API key
when one is set.
"""

import asyncio
import hmac
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import bentoml
import orjson
from bentoml.exceptions import InvalidArgument
from pydantic import Field
from starlette.responses import JSONResponse

from configs import load_settings
from features import interactions
from serving import schemas, scoring

SETTINGS = load_settings()
LIMITS = SETTINGS.serving.traffic
TopFeatures = Annotated[int, Field(ge=1, le=30)]
DRAIN_FACTOR = 16  # a refused body is read (and dropped) up to this many times the limit
Case = TypeVar("Case")
# A request's cases: at least one, at most ``traffic.max_cases``.
CaseList = Annotated[list[Case], Field(min_length=1, max_length=LIMITS.max_cases)]


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class GatewayMiddleware:
    """Two checks before a request reaches an endpoint, in plain ASGI (next to no cost):

    - **API key, denied by default**: with a key configured, every path needs
      ``Authorization: Bearer <key>`` except the open ones (health, readiness, schema and docs:
      clients fetch /schema.json before they call), so a new endpoint is never open by accident.
    - **Body size**: a body over ``traffic.max_body_bytes`` is refused with a 413, by its declared
      length or, without one, by the bytes received (a body sent in chunks is read here first).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = os.environ.get(SETTINGS.serving.api_key_env)
        if key and not SETTINGS.serving.is_open(scope["path"]):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {key}".encode()):
                refusal = _refuse(401, "missing or wrong API key (Authorization: Bearer <key>)")
                await refusal(scope, receive, send)
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > LIMITS.max_body_bytes:
            await _read_body(receive)  # dropped
            await _too_large(scope, receive, send)
            return
        if declared is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await _read_body(receive)
            if body is None:
                await _too_large(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


async def _too_large(scope, receive, send) -> None:
    refusal = _refuse(413, f"the request body exceeds {LIMITS.max_body_bytes:,} bytes")
    await refusal(scope, receive, send)


async def _read_body(receive) -> bytes | None:
    """A request's whole body, or None when it is over ``traffic.max_body_bytes``. The rest of
    a body over the limit is read and dropped (up to ``DRAIN_FACTOR`` times the limit): a client
    still sending when the 413 comes would otherwise see its connection reset, not the answer."""
    limit, chunks, size = LIMITS.max_body_bytes, [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > DRAIN_FACTOR * limit:
            break
    return b"".join(chunks) if size <= limit else None


def _replay(body: bytes, receive):
    """A ``receive`` that hands the app the body read already, then the connection's own."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


@dataclass
class Waiting:
    """A request's cases, waiting to be scored."""

    cases: list
    arrived: float
    answer: asyncio.Future


class RiskService:
    def __init__(self) -> None:
        self.models = scoring.load_models(SETTINGS)
        self.trend_hours = SETTINGS.features.tasks.trend_hours
        self.audit_path = Path(SETTINGS.serving.audit_log)
        self.audit_path.parent.mkdir(parents=True, exist_ok=True)
        self.waiting: dict[tuple, list[Waiting]] = {}
        self.knowledge = interactions.KnowledgeBase.of(SETTINGS)

    def __is_ready__(self) -> bool:
        return len(self.models) == len(SETTINGS.task_names)

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
            features = scoring.features_for(
                loaded.config.case, cases, self.trend_hours, self.knowledge
            )
            predictions = scoring.predict(loaded, cases, features, explain, top_features)
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

    @bentoml.api(route="/medications/check")
    async def check_medications(
        self, active: schemas.ActiveList, new: schemas.MedicationOrder
    ) -> schemas.MedicationAlerts:
        """A patient's active medicines and a new order in; the interactions the order raises
        out, severest first, each with its tier, the event it warns of and what to do."""
        started = time.perf_counter()
        if any(order.rxnorm_code == new.rxnorm_code for order in active):
            raise InvalidArgument(f"rxnorm_code {new.rxnorm_code!r} is already active")
        kb = self.knowledge
        name_of = {o.rxnorm_code: kb.name_of(o.rxnorm_code) for o in (*active, new)}
        code_of = {name: code for code, name in name_of.items()}
        found = interactions.check_order(
            kb, [name_of[o.rxnorm_code] for o in active], name_of[new.rxnorm_code]
        )
        alerts = [
            schemas.MedicationAlert(
                rxnorm_code=code_of[a.drug], drug=a.drug, active_rxnorm_code=code_of[a.active_drug],
                active_drug=a.active_drug, severity=a.severity, tier=a.tier, effect=a.effect,
                mechanism=a.mechanism, action=a.action, source=a.source,
            )
            for a in found
        ]  # fmt: skip
        answer = schemas.MedicationAlerts(
            request_id=uuid.uuid4().hex,
            interruptive=any(a.tier == "interruptive" for a in alerts),
            alerts=alerts,
        )
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "request_id": answer.request_id,
            "endpoint": "medications/check",
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "active": len(active),
            "new": new.rxnorm_code,
            "alerts": [[a.active_rxnorm_code, a.severity, a.tier] for a in alerts],
        }
        with self.audit_path.open("ab", buffering=0) as log:
            log.write(orjson.dumps(line) + b"\n")
        return answer

    @bentoml.api(route="/info")
    async def info(self) -> dict:
        """The loaded models and their registry versions."""
        return {task: {"model": m.name, "version": m.version} for task, m in self.models.items()}


def _endpoint(task: str):
    """``POST /<task>``: the task's cases in, one prediction per case out."""
    declared = SETTINGS.tasks[task]

    async def predict(self, cases, explain=False, top_features=5) -> schemas.Predictions:
        return await self._answer(task, cases, explain, top_features)

    predict.__annotations__ = {
        "cases": CaseList[schemas.CASES[declared.case]],
        "explain": bool,
        "top_features": TopFeatures,
        "return": schemas.Predictions,
    }
    predict.__name__ = predict.__qualname__ = task
    predict.__doc__ = declared.question
    return bentoml.api(route=f"/{task}")(predict)


for _task in SETTINGS.task_names:
    if hasattr(RiskService, _task):
        raise ValueError(f"task name {_task!r} is taken by the service itself: rename the task")
    setattr(RiskService, _task, _endpoint(_task))

RiskService = bentoml.service(
    name="hospital-risk",
    workers=SETTINGS.serving.processes,
    traffic={"timeout": LIMITS.timeout_seconds, "max_concurrency": LIMITS.max_concurrency},
)(RiskService)
RiskService.add_asgi_middleware(GatewayMiddleware)
