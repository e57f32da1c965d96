"""HTTP ingest: `POST /v1/events` takes CloudEvents (structured JSON or a batch) and answers after Kafka's ack.

    202  every event was acknowledged by the broker (body: topic, partition, offset per event)
    400  malformed JSON, unknown type, schema violation (body: the reason; nothing of the request is sent)
    413  the body is over `IngestSettings.max_body_bytes`, or one event is over the event size limit
    415  neither `application/cloudevents+json` nor `application/cloudevents-batch+json`
    503  the broker is unreachable or did not acknowledge in time (never 202); retry later
    502  the broker refused the records for a reason retrying will not fix

A batch is checked as a whole before anything is sent: one invalid event rejects the batch with per-event
reasons. After a 503 some events of a batch may have been stored (each result says which); resending them
is safe because the bridge dedupes by external ID and sequence.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.config import IngestSettings
from bridge.errors import BridgeError, EventError, EventTooLarge
from bridge.events.envelope import (
    BATCH_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    decode_structured,
    parse_batch,
    parse_structured,
)
from bridge.metrics import Metrics
from bridge.publisher import PreparedEvent, Publisher, PublishResult

_RETRY_AFTER_S = "1"


class _BodyTooLarge(Exception):
    pass


def create_ingest_app(publisher: Publisher, settings: IngestSettings, metrics: Metrics) -> Starlette:
    """The ingest endpoint as its own app, to serve on `IngestSettings.host:port` beside the worker's server.

    async with Publisher(settings, metrics=metrics) as publisher, AsyncExitStack() as stack:
        app = create_ingest_app(publisher, settings.ingest, metrics)
        await stack.enter_async_context(WorkerServer(app, host=settings.ingest.host, port=settings.ingest.port))
    """
    return Starlette(routes=ingest_routes(publisher, settings, metrics))


def ingest_routes(publisher: Publisher, settings: IngestSettings, metrics: Metrics) -> list[Route]:
    """The ingest endpoint's routes, to mount on the worker's server (`bridge.server.create_app`)."""

    async def post_events(request: Request) -> Response:
        response = await _handle(request, publisher, settings)
        metrics.ingest_requests.labels(status=str(response.status_code)).inc()
        return response

    return [Route("/v1/events", post_events, methods=["POST"])]


async def _handle(request: Request, publisher: Publisher, settings: IngestSettings) -> Response:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (STRUCTURED_CONTENT_TYPE, BATCH_CONTENT_TYPE):
        message = f"send {STRUCTURED_CONTENT_TYPE} or {BATCH_CONTENT_TYPE}, not {media_type or 'nothing'!r}"
        return _error(415, "unsupported_media_type", message)
    try:
        body = await _read_body(request, settings.max_body_bytes)
    except _BodyTooLarge:
        return _error(413, "too_large", f"the body is over {settings.max_body_bytes} bytes")
    if media_type == STRUCTURED_CONTENT_TYPE:
        return await _single(body, publisher, settings)
    return await _batch(body, publisher, settings)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a missing or lying Content-Length must not let a huge body through
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _single(body: bytes, publisher: Publisher, settings: IngestSettings) -> Response:
    try:
        prepared = publisher.prepare(parse_structured(body))
    except EventError as exc:
        return _rejected(exc)
    [result] = await publisher.send_many([prepared], timeout_s=settings.ack_timeout_s)
    if result.error is not None:
        return _failed(result.error, _describe(result))
    return JSONResponse(_describe(result), status_code=202)


async def _batch(body: bytes, publisher: Publisher, settings: IngestSettings) -> Response:
    try:
        items = parse_batch(body)
    except EventError as exc:
        return _rejected(exc)
    if not items:
        return _error(400, "malformed", "the batch is empty")
    prepared: list[PreparedEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            prepared.append(publisher.prepare(decode_structured(item)))
        except EventError as exc:
            event_id = item.get("id") if isinstance(item, dict) else None
            problems.append({"index": index, "id": event_id, "error": exc.reason, "message": exc.message})
    if problems:
        message = f"{len(problems)} of {len(items)} events are invalid; nothing was sent"
        return JSONResponse({"error": "invalid_events", "message": message, "results": problems}, 400)
    results = await publisher.send_many(prepared, timeout_s=settings.ack_timeout_s)
    described = {"results": [_describe(result) for result in results]}
    failure = next((result.error for result in results if result.error is not None), None)
    if failure is not None:
        return _failed(failure, described)
    return JSONResponse(described, status_code=202)


def _describe(result: PublishResult) -> dict[str, Any]:
    if result.error is None:
        return {"id": result.event_id, "topic": result.topic, "partition": result.partition, "offset": result.offset}
    error = result.error
    return {"id": result.event_id, "error": getattr(error, "reason", type(error).__name__), "message": error.message}


def _rejected(exc: EventError) -> Response:
    status = 413 if isinstance(exc, EventTooLarge) else 400
    path = getattr(exc, "path", None)
    return _error(status, exc.reason, exc.message, **({"path": path} if path else {}))


def _failed(error: BridgeError, body: dict[str, Any]) -> Response:
    if error.retryable:
        body = {**body, "error": "kafka_unavailable", "message": error.message}
        return JSONResponse(body, status_code=503, headers={"Retry-After": _RETRY_AFTER_S})
    return JSONResponse({**body, "error": "publish_failed", "message": error.message}, status_code=502)


def _error(status: int, error: str, message: str, **extra: str) -> Response:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)
