"""HTTP ingest: `POST /v1/events` takes CloudEvents (structured JSON or a batch) and answers after Kafka's ack.

    202  every event was acknowledged by the broker (body: topic, partition, offset per event)
    400  malformed or non-strict JSON, unknown type, schema violation (body: the reason; nothing is sent)
    401  no valid bearer token or client certificate (`WWW-Authenticate: Bearer`; never says what was wrong)
    403  the identity may not publish this source or type, or the event names an identity itself (nothing sent)
    408  the body did not arrive within `IngestSettings.body_timeout_s`
    413  the body is over `max_body_bytes`, a batch over `max_batch_events`, or one event over the event size limit
    415  neither `application/cloudevents+json` nor `application/cloudevents-batch+json`
    429  the identity is over its rate (`Retry-After`); nothing is sent
    503  the broker is unreachable or did not acknowledge in time (never 202); retry later
    502  the broker refused the records for a reason retrying will not fix

Checks run in that order of cost: the credentials before the body is read, the rate before the body is read (and
again, for the number of events, before anything is sent). A batch is checked as a whole before anything is
sent: one refused event refuses the batch with per-event reasons. Every accepted event carries the verified
identity as `ce_authtype` / `ce_authid` (CloudEvents auth-context extension). After a 503 some events of a batch
may have been stored (each result says which); resending them is safe: the processor drops a redelivered event id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.config import IngestSettings
from bridge.errors import BridgeError, EventError, EventTooLarge
from bridge.events.envelope import BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, decode_structured
from bridge.ingest.body import BodyTimeout, BodyTooLarge, read_body, strict_json
from bridge.ingest.grants import Identity
from bridge.ingest.guard import Guard
from bridge.ingest.limits import retry_after
from bridge.metrics import Metrics
from bridge.publisher import PreparedEvent, Publisher, PublishResult
from bridge.server import PEER_SUBJECT

log = logging.getLogger(__name__)

_RETRY_AFTER_S = "1"
_MAX_PROBLEMS = 100  # per-event reasons listed in one answer (a 100,000-event batch gets a short one)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-bridge"'}


@dataclass(frozen=True, slots=True)
class _Ingest:
    publisher: Publisher
    settings: IngestSettings
    guard: Guard


class _Problem(NamedTuple):
    """Why one event of a request is refused."""

    position: int  # the event's index in the batch
    event_id: str | None
    status: int
    error: str
    message: str
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc = {"index": self.position, "id": self.event_id, "error": self.error, "message": self.message}
        return doc | ({"path": self.path} if self.path else {})


class _Refused(Exception):
    """A request answered with an error before anything was sent."""

    def __init__(self, response: Response) -> None:
        self.response = response


def create_ingest_app(
    publisher: Publisher, settings: IngestSettings, metrics: Metrics, *, guard: Guard | None = None
) -> Starlette:
    """The ingest endpoint as its own app, to serve on `IngestSettings.host:port` beside the worker's server.

    async with Publisher(settings, metrics=metrics) as publisher, AsyncExitStack() as stack:
        app = create_ingest_app(publisher, settings.ingest, metrics)
        await stack.enter_async_context(WorkerServer(app, host=settings.ingest.host, port=settings.ingest.port))
    """
    return Starlette(routes=ingest_routes(publisher, settings, metrics, guard=guard))


def ingest_routes(
    publisher: Publisher, settings: IngestSettings, metrics: Metrics, *, guard: Guard | None = None
) -> list[Route]:
    """The ingest endpoint's routes. `guard` defaults to the one `settings` describe (reading the token file)."""
    ingest = _Ingest(publisher, settings, guard or Guard.from_settings(settings))

    async def post_events(request: Request) -> Response:
        identity = ingest.guard.identify(request.headers.get("authorization"), _peer_subject(request))
        if identity is None:
            response = _error(401, "unauthorized", "a valid bearer token or client certificate is required")
            response.headers.update(_CHALLENGE)
        else:
            try:
                response = await _handle(request, identity, ingest)
            except _Refused as refused:
                response = refused.response
            labels = {"identity": identity.name, "credential": identity.credential}
            metrics.ingest_identity_requests.labels(**labels, status=str(response.status_code)).inc()
        metrics.ingest_requests.labels(status=str(response.status_code)).inc()
        return response

    return [Route("/v1/events", post_events, methods=["POST"])]


def _peer_subject(request: Request) -> str | None:
    subject = request.scope.get("state", {}).get(PEER_SUBJECT)
    return subject if isinstance(subject, str) else None


async def _handle(request: Request, identity: Identity, ingest: _Ingest) -> Response:
    settings, guard = ingest.settings, ingest.guard
    if (wait_s := guard.limits.wait_s(identity)) > 0:
        return _too_many(identity, wait_s)
    body, batch = await _read(request, settings)
    prepared = _prepare(_items(body, batch, settings), identity, ingest, batch=batch)
    if (wait_s := guard.limits.take(identity, len(prepared))) > 0:
        return _too_many(identity, wait_s)
    results = await ingest.publisher.send_many(prepared, timeout_s=settings.ack_timeout_s)
    described: dict[str, Any] = {"results": [_describe(result) for result in results]}
    if not batch:
        described = described["results"][0]
    failure = next((result.error for result in results if result.error is not None), None)
    if failure is not None:
        return _failed(failure, described)
    return JSONResponse(described, status_code=202)


async def _read(request: Request, settings: IngestSettings) -> tuple[bytes, bool]:
    """The body and whether it is a batch; 415, 413 and 408 as `_Refused`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (STRUCTURED_CONTENT_TYPE, BATCH_CONTENT_TYPE):
        message = f"send {STRUCTURED_CONTENT_TYPE} or {BATCH_CONTENT_TYPE}, not {media_type[:100] or 'nothing'!r}"
        raise _Refused(_error(415, "unsupported_media_type", message))
    try:
        body = await read_body(request, limit_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    except BodyTooLarge:
        raise _Refused(_error(413, "too_large", f"the body is over {settings.max_body_bytes} bytes")) from None
    except BodyTimeout:
        message = f"the body did not arrive within {settings.body_timeout_s:g} s"
        raise _Refused(_error(408, "request_timeout", message)) from None
    return body, media_type == BATCH_CONTENT_TYPE


def _items(body: bytes, batch: bool, settings: IngestSettings) -> list[Any]:
    try:
        document = strict_json(body)
    except EventError as exc:
        raise _Refused(_rejected(exc)) from None
    if not batch:
        return [document]
    if not isinstance(document, list):
        raise _Refused(_error(400, "malformed", "a CloudEvents batch must be a JSON array"))
    if not document:
        raise _Refused(_error(400, "malformed", "the batch is empty"))
    if len(document) > settings.max_batch_events:
        message = f"the batch has {len(document)} events; the limit is {settings.max_batch_events}: split it"
        raise _Refused(_error(413, "too_many_events", message))
    return document


def _prepare(items: list[Any], identity: Identity, ingest: _Ingest, *, batch: bool) -> list[PreparedEvent]:
    """Decode, authorize, stamp and check every item; any problem refuses the whole request, nothing is sent."""
    prepared: list[PreparedEvent] = []
    problems: list[_Problem] = []
    for index, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        event_id = raw_id if isinstance(raw_id, str) else None
        try:
            event = decode_structured(item)
            refusal = ingest.guard.forged(event)
            if refusal is None:  # checked before it is authorized: a malformed source is 400, not 403
                checked = ingest.publisher.prepare(ingest.guard.stamp(identity, event))
                refusal = ingest.guard.refusal(identity, checked.event)
                if refusal is None:
                    prepared.append(checked)
                    continue
            problems.append(_Problem(index, event_id, 403, refusal.error, refusal.message))
        except EventError as exc:
            status = 413 if isinstance(exc, EventTooLarge) else 400
            problems.append(_Problem(index, event_id, status, exc.reason, exc.message, getattr(exc, "path", None)))
    if problems:
        forbidden = [p for p in problems if p.status == 403]
        if forbidden:
            log.warning("refused %d event(s) of %s: %s", len(forbidden), identity.name, forbidden[0].message)
        raise _Refused(_problems(problems, len(items), batch=batch))
    return prepared


def _problems(problems: list[_Problem], total: int, *, batch: bool) -> Response:
    status = 403 if any(p.status == 403 for p in problems) else max(p.status for p in problems)
    if not batch:
        first = problems[0]
        return _error(status, first.error, first.message, **({"path": first.path} if first.path else {}))
    message = f"{len(problems)} of {total} events are refused; nothing was sent"
    if len(problems) > _MAX_PROBLEMS:
        message += f" (the first {_MAX_PROBLEMS} are listed)"
    error = "forbidden_events" if status == 403 else "invalid_events"
    listed = [p.as_dict() for p in problems[:_MAX_PROBLEMS]]
    return JSONResponse({"error": error, "message": message, "results": listed}, status)


def _describe(result: PublishResult) -> dict[str, Any]:
    if result.error is None:
        return {"id": result.event_id, "topic": result.topic, "partition": result.partition, "offset": result.offset}
    error = result.error
    return {"id": result.event_id, "error": getattr(error, "reason", type(error).__name__), "message": error.message}


def _rejected(exc: EventError) -> Response:
    status = 413 if isinstance(exc, EventTooLarge) else 400
    path = getattr(exc, "path", None)
    return _error(status, exc.reason, exc.message, **({"path": path} if path else {}))


def _too_many(identity: Identity, wait_s: float) -> Response:
    message = f"{identity.name!r} is over its rate of {identity.rate_per_s:g} events/s; retry after the wait"
    response = _error(429, "rate_limited", message)
    response.headers["Retry-After"] = retry_after(wait_s)
    return response


def _failed(error: BridgeError, body: dict[str, Any]) -> Response:
    if error.retryable:
        body = {**body, "error": "kafka_unavailable", "message": error.message}
        return JSONResponse(body, status_code=503, headers={"Retry-After": _RETRY_AFTER_S})
    return JSONResponse({**body, "error": "publish_failed", "message": error.message}, status_code=502)


def _error(status: int, error: str, message: str, **extra: str) -> Response:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


__all__ = ["create_ingest_app", "ingest_routes"]
