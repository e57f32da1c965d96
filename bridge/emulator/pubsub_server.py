"""The emulator's Pub/Sub API: a gRPC server over the org's retained change events and Platform Events.

It follows the documented behaviour: auth metadata on every RPC (`accesstoken`, `instanceurl`, `tenantid`);
Subscribe as a pull stream whose `num_requested` credits add up and are capped at 100; the replay preset honoured
only in the first request; CUSTOM resumes strictly after the given id, and an unknown or expired id fails with
INVALID_ARGUMENT and the `…replayid.corrupted` error code in the `error-code` trailer; empty keepalive responses
carrying `latest_replay_id` when nothing arrives for `keepalive_s`; the stream closes when no credit is requested
for `idle_close_s`; GetTopic, GetSchema and Publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub._pb import pubsub_api_pb2_grpc as pb_grpc

PREFIX = "sfdc.platform.eventbus.grpc."
MAX_PENDING = 100


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One retained event as the server sends it."""

    replay_id: int
    event_id: str
    schema_id: str
    payload: bytes


class ChangeFeed(Protocol):
    """What the server needs from the org: retained events per topic, schemas, and session checks."""

    def topic_exists(self, topic: str) -> bool: ...

    def topic_schema_id(self, topic: str) -> str: ...

    def schema_json(self, schema_id: str) -> str | None: ...

    def latest(self, topic: str) -> int: ...

    def earliest(self, topic: str) -> int: ...

    def is_retained(self, topic: str, replay_id: int) -> bool: ...

    def read_after(self, topic: str, replay_id: int, limit: int) -> Sequence[FeedEvent]: ...

    async def wait_after(self, topic: str, replay_id: int, timeout_s: float) -> None: ...

    def session_valid(self, access_token: str) -> bool: ...

    def publish(self, topic: str, events: Sequence[Any]) -> list[int | str]: ...


@dataclass
class PubSubFaults:
    """Faults tests inject: end the next streams with a coded error after N events, or refuse auth."""

    fail_after_events: int | None = None
    fail_code: str = "service.unavailable"
    fail_status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    streams_opened: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _replay_bytes(value: int) -> bytes:
    return value.to_bytes(8, "big")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.StatusCode, code: str, msg: str) -> None:
    rpc_id = str(uuid.uuid4())
    context.set_trailing_metadata((("error-code", PREFIX + code), ("rpc-id", rpc_id)))
    await context.abort(status, f"{msg} rpcId: {rpc_id}")


class _Credit:
    """Outstanding `num_requested`, capped at 100, fed by the client's later FetchRequests."""

    def __init__(self, first: int) -> None:
        self.pending = min(MAX_PENDING, first)
        self.changed = asyncio.Event()
        self.error: tuple[grpc.StatusCode, str, str] | None = None

    def add(self, n: int) -> None:
        self.pending = min(MAX_PENDING, self.pending + n)
        self.changed.set()


class PubSubServicer(pb_grpc.PubSubServicer):
    """The PubSub service over a `ChangeFeed`."""

    def __init__(
        self,
        feed: ChangeFeed,
        *,
        keepalive_s: float = 270.0,
        idle_close_s: float = 60.0,
        faults: PubSubFaults,
    ) -> None:
        self._feed = feed
        self._keepalive_s = keepalive_s
        self._idle_close_s = idle_close_s
        self._faults = faults

    async def _authorized(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        metadata: Mapping[str, Any] = dict(context.invocation_metadata() or ())
        token = str(metadata.get("accesstoken", ""))
        if not token or not metadata.get("instanceurl") or not metadata.get("tenantid"):
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.headers.invalid", "missing auth")
            return False
        if not self._feed.session_valid(token):
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", "session invalid or expired")
            return False
        return True

    async def GetTopic(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        if not self._feed.topic_exists(request.topic_name):
            await _abort(context, grpc.StatusCode.NOT_FOUND, "topic.not.found", f"no topic {request.topic_name}")
        schema_id = self._feed.topic_schema_id(request.topic_name)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            can_publish=True,
            can_subscribe=True,
            schema_id=schema_id,
            rpc_id=_rpc(),
        )

    async def GetSchema(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        schema_json = self._feed.schema_json(request.schema_id)
        if schema_json is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND, "schema.validation.failed", "unknown schema id")
        return pb.SchemaInfo(schema_json=schema_json, schema_id=request.schema_id, rpc_id=_rpc())

    async def Publish(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        if not self._feed.topic_exists(request.topic_name):
            await _abort(context, grpc.StatusCode.NOT_FOUND, "topic.not.found", f"no topic {request.topic_name}")
        results = []
        for event, outcome in zip(request.events, self._feed.publish(request.topic_name, request.events), strict=True):
            if isinstance(outcome, int):
                results.append(pb.PublishResult(replay_id=_replay_bytes(outcome), correlation_key=event.id))
            else:
                error = pb.Error(code=pb.ErrorCode.PUBLISH, msg=outcome)
                results.append(pb.PublishResult(error=error, correlation_key=event.id))
        return pb.PublishResponse(results=results, schema_id=self._feed.topic_schema_id(request.topic_name))

    async def Subscribe(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802 - the RPC name
        if not await self._authorized(context):
            return
        first = await anext(aiter(request_iterator))
        position = await self._start_position(first, context)
        credit = _Credit(first.num_requested)
        reader = asyncio.create_task(self._read_requests(request_iterator, first.topic_name, credit))
        self._faults.streams_opened += 1
        try:
            async for response in self._deliver(first.topic_name, position, credit, context):
                yield response
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _start_position(self, first: Any, context: Any) -> int:
        topic = first.topic_name
        if not self._feed.topic_exists(topic):
            await _abort(context, grpc.StatusCode.NOT_FOUND, "topic.not.found", f"no topic {topic}")
        if first.num_requested <= 0:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.requested.events.invalid", "")
        if first.replay_preset == pb.ReplayPreset.LATEST:
            return self._feed.latest(topic)
        if first.replay_preset == pb.ReplayPreset.EARLIEST:
            return self._feed.earliest(topic) - 1
        if not first.replay_id:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.replayid.validation.failed",
                "no id",
            )
        replay = int.from_bytes(first.replay_id, "big")
        if len(first.replay_id) != 8 or not self._feed.is_retained(topic, replay):
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.replayid.corrupted",
                "The Replay ID validation failed.",
            )
        return replay

    async def _read_requests(self, request_iterator: Any, topic: str, credit: _Credit) -> None:
        async for request in request_iterator:
            if request.topic_name and request.topic_name != topic:
                credit.error = (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "subscription.fetch.topic.mismatch",
                    "topic changed",
                )
            elif request.num_requested <= 0:
                credit.error = (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "subscription.fetch.requested.events.invalid",
                    "",
                )
            else:
                credit.add(request.num_requested)
                continue
            credit.changed.set()
            return

    async def _deliver(self, topic: str, position: int, credit: _Credit, context: Any) -> AsyncIterator[Any]:
        sent = 0
        while True:
            await self._check_stream(credit, context, sent)
            if credit.pending == 0:
                if not await _wait_event(credit.changed, self._idle_close_s):
                    return  # the documented close after 60 s without new credit
                credit.changed.clear()
                continue
            events = self._feed.read_after(topic, position, credit.pending)
            if not events:
                await self._feed.wait_after(topic, position, self._keepalive_s)
                if not self._feed.read_after(topic, position, 1):
                    latest = _replay_bytes(self._feed.latest(topic))
                    yield pb.FetchResponse(latest_replay_id=latest, rpc_id=_rpc(), pending_num_requested=credit.pending)
                continue
            credit.pending -= len(events)
            position = events[-1].replay_id
            sent += len(events)
            yield pb.FetchResponse(
                events=[_consumer_event(e) for e in events],
                latest_replay_id=_replay_bytes(position),
                rpc_id=_rpc(),
                pending_num_requested=credit.pending,
            )

    async def _check_stream(self, credit: _Credit, context: Any, sent: int) -> None:
        if credit.error is not None:
            await _abort(context, *credit.error)
        token = str(dict(context.invocation_metadata() or ()).get("accesstoken", ""))
        if not self._feed.session_valid(token):
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", "session expired")
        limit = self._faults.fail_after_events
        if limit is not None and sent >= limit:
            self._faults.fail_after_events = None
            await _abort(context, self._faults.fail_status, self._faults.fail_code, "injected fault")


def _consumer_event(event: FeedEvent) -> Any:
    producer_event = pb.ProducerEvent(id=event.event_id, schema_id=event.schema_id, payload=event.payload)
    return pb.ConsumerEvent(event=producer_event, replay_id=_replay_bytes(event.replay_id))


def _rpc() -> str:
    return str(uuid.uuid4())


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout_s)
    except TimeoutError:
        return False
    return True


class PubSubServer:
    """Serves the PubSub service on a loopback port: `async with PubSubServer(feed) as server: server.target`."""

    def __init__(self, feed: ChangeFeed, *, host: str = "127.0.0.1", port: int = 0, keepalive_s: float = 270.0) -> None:
        self.faults = PubSubFaults()
        self._servicer = PubSubServicer(feed, keepalive_s=keepalive_s, faults=self.faults)
        self._host = host
        self._port = port
        self._server: grpc.aio.Server | None = None
        self.target = ""

    async def __aenter__(self) -> PubSubServer:
        # Accept the client keepalive pings that long-lived subscriptions send (the real service does); gRPC's
        # default policy answers pings more often than every 5 minutes with GOAWAY "too_many_pings".
        options = [
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
        self._server = grpc.aio.server(options=options)
        pb_grpc.add_PubSubServicer_to_server(self._servicer, self._server)  # type: ignore[no-untyped-call]
        port = self._server.add_insecure_port(f"{self._host}:{self._port}")
        await self._server.start()
        self.target = f"{self._host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.stop(grace=0.5)
            self._server = None
