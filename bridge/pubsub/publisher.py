"""Platform Events out over PublishStream: one stream per topic, requests pipelined, a result per event, and
retries that never publish an event twice.

Every event goes with a correlation key chosen by the caller (the `ProducerEvent.id`, "Either a user-provided ID or
a system generated guid"), derived from the record it comes from, so a resend names the same event. Salesforce
documents no deduplication by that id (the same event published twice is two events on the bus), so the publisher
does it: when a stream breaks while requests are in flight, their events are *in doubt*: they may be on the bus
with their answer lost. Before anything is sent again, the publisher reads the topic after the newest replay id it
knows was published before them (its fence) and takes every in-doubt key it finds there as published; only the
others are sent again. Keys stay in doubt across calls until settled, so a later retry of the same record (the
sink's own backoff) is verified too.

What is not covered: a process that dies with requests in flight forgets its fence and its in-doubt keys; the
record is then redone from its uncommitted Kafka offset and published again with the same id (at least once, and
subscribers can drop the duplicate by `event.id`).

    async with PubSubClient(target, credentials=creds) as client:
        publisher = EventPublisher(client)
        outcomes = await publisher.publish_events("Order_Event__e", [OutgoingEvent(key, {"Order_Number__c": "O-1"})])
        await publisher.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro
import grpc
import orjson

from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub.avro import encode_payload
from bridge.pubsub.client import PubSubClient, ReplayStart, map_rpc_error
from bridge.pubsub.errors import PubSubAuthError, PubSubError, PubSubUnavailable, ReplayIdInvalid, TopicNotPublishable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One Platform Event to publish: its correlation key (the same on every resend) and its field values."""

    correlation_key: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """The final result of one event: its replay id on the bus, or the error Salesforce gave for it alone.

    `verified` says the event was found on the bus after its answer was lost, instead of being sent again.
    """

    correlation_key: str
    replay_id: bytes | None
    error: str | None = None
    verified: bool = False

    @property
    def published(self) -> bool:
        return self.replay_id is not None


class _StreamBroken(Exception):
    """The stream ended with requests unanswered."""

    def __init__(self, cause: PubSubError) -> None:
        super().__init__(cause.message)
        self.cause = cause


class _Stream:
    """One open PublishStream: requests go out in order, each answer resolves the oldest waiting request."""

    def __init__(self, client: PubSubClient, topic: str) -> None:
        self._client = client
        self._topic = topic
        self._requests: asyncio.Queue[Any] = asyncio.Queue()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._call: Any = None
        self._named = False
        self.closed = False
        self.last_used_s = time.monotonic()

    async def open(self, *, fresh_login: bool) -> None:
        async def outgoing() -> AsyncIterator[Any]:
            while (request := await self._requests.get()) is not None:
                yield request

        self._call = self._client.stub.PublishStream(outgoing(), metadata=await self._client.metadata(fresh_login))
        self._reader = asyncio.create_task(self._read(), name=f"publish-stream:{self._topic}")

    async def send(self, events: Sequence[Any]) -> Any:
        """Queue one request (the first names the topic) and wait for its answer."""
        if self.closed:
            raise _StreamBroken(PubSubUnavailable("publish stream closed"))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        topic = "" if self._named else self._topic  # "can be omitted for efficiency" after the first request
        self._named = True
        self.last_used_s = time.monotonic()
        await self._requests.put(pb.PublishRequest(topic_name=topic, events=list(events)))
        return await future

    async def _read(self) -> None:
        error: PubSubError = PubSubUnavailable("publish stream ended")
        try:
            async for response in self._call:
                if self._waiting:
                    self._waiting.popleft().set_result(response)
        except grpc.aio.AioRpcError as exc:
            error = map_rpc_error(exc)
        except asyncio.CancelledError:
            error = PubSubUnavailable("publish stream closed")
        self.closed = True
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(_StreamBroken(error))

    async def close(self) -> None:
        self.closed = True
        await self._requests.put(None)  # end the request stream first: cancelling under a waiting writer is noisy
        await asyncio.sleep(0)
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class EventPublisher:
    """Publishes Platform Events through an open `PubSubClient`. Constructing it does no I/O.

    `attempts` bounds how often one call sends again after a broken stream; `verify_timeout_s` bounds the read that
    looks for in-doubt events (it also ends as soon as every in-doubt key is found, or the topic is read to its end).
    A stream idle for `reopen_idle_s` is replaced before use: the server closes one that sent nothing for 70 s, and a
    request racing that close would be in doubt for nothing.
    """

    def __init__(
        self,
        client: PubSubClient,
        *,
        attempts: int = 3,
        verify_timeout_s: float = 30.0,
        reopen_idle_s: float = 55.0,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._client = client
        self._attempts = attempts
        self._verify_timeout_s = verify_timeout_s
        self._reopen_idle_s = reopen_idle_s
        self._clock_ms = clock_ms
        self._streams: dict[str, _Stream] = {}
        self._schemas: dict[str, tuple[str, Any]] = {}
        self._fences: dict[str, bytes] = {}
        self._in_doubt: dict[str, set[str]] = {}
        self._lock = asyncio.Lock()
        self.resent = 0
        self.verified = 0

    def __repr__(self) -> str:
        doubt = sum(len(keys) for keys in self._in_doubt.values())
        return f"EventPublisher(streams={len(self._streams)}, in_doubt={doubt}, resent={self.resent})"

    async def aclose(self) -> None:
        """Close every open stream."""
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            await stream.close()

    async def publish_events(self, sobject: str, events: Sequence[OutgoingEvent]) -> list[EventOutcome]:
        """Publish events of Platform Event `sobject` (`X__e`); one outcome per event, in order."""
        topic = f"/event/{sobject}"
        schema_id, parsed = await self._schema(topic)
        user_id = (await self._client.credentials()).user_id
        outcomes: dict[str, EventOutcome] = {}
        pending: list[Any] = []
        for event in events:
            try:
                payload = encode_payload(parsed, self._record(event, user_id))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                error = f"the event does not match the schema of {sobject}: {exc}"
                outcomes[event.correlation_key] = EventOutcome(event.correlation_key, None, error)
                continue
            pending.append(pb.ProducerEvent(id=event.correlation_key, schema_id=schema_id, payload=payload))
        outcomes |= await self._publish(topic, pending)
        return [outcomes[event.correlation_key] for event in events]

    def _record(self, event: OutgoingEvent, user_id: str) -> dict[str, Any]:
        # "For system fields, the CreatedDate and CreatedById fields are required in the event payload."
        return {**event.fields, "CreatedDate": self._clock_ms(), "CreatedById": user_id}

    async def _publish(self, topic: str, pending: list[Any]) -> dict[str, EventOutcome]:
        outcomes = await self._settle_doubts(topic, pending)
        pending = [e for e in pending if e.id not in outcomes]
        fresh = False
        for attempt in range(1, self._attempts + 1):
            if not pending:
                break
            try:
                response = await self._send(topic, pending, fresh_login=fresh)
            except _StreamBroken as broken:
                if not broken.cause.retryable:
                    raise broken.cause from None
                self._in_doubt.setdefault(topic, set()).update(e.id for e in pending)
                log.warning("publish stream on %s broke with %d event(s) in doubt: %s", topic, len(pending), broken)
                found = await self._settle_doubts(topic, pending)
                outcomes |= found
                pending = [e for e in pending if e.id not in found]
                fresh = isinstance(broken.cause, PubSubAuthError)
                if pending and attempt < self._attempts:
                    self.resent += len(pending)
                continue
            outcomes |= self._accept(topic, response)
            pending = []
        if pending:
            raise PubSubUnavailable(f"{len(pending)} event(s) on {topic} unanswered after {self._attempts} attempts")
        return outcomes

    async def _send(self, topic: str, events: Sequence[Any], *, fresh_login: bool) -> Any:
        async with self._lock:
            stream = self._streams.get(topic)
            stale = stream is not None and time.monotonic() - stream.last_used_s > self._reopen_idle_s
            if stream is None or stream.closed or fresh_login or stale:
                if stream is not None:
                    await stream.close()
                stream = _Stream(self._client, topic)
                await stream.open(fresh_login=fresh_login)
                self._streams[topic] = stream
        return await stream.send(events)

    def _accept(self, topic: str, response: Any) -> dict[str, EventOutcome]:
        outcomes: dict[str, EventOutcome] = {}
        for result in response.results:
            key = str(result.correlation_key)
            if result.HasField("error"):
                outcomes[key] = EventOutcome(key, None, str(result.error.msg) or "publish failed")
            else:
                outcomes[key] = EventOutcome(key, bytes(result.replay_id))
                self._fences[topic] = bytes(result.replay_id)
        self._in_doubt.get(topic, set()).difference_update(outcomes)
        return outcomes

    async def _settle_doubts(self, topic: str, pending: Sequence[Any]) -> dict[str, EventOutcome]:
        """Look on the bus for the pending events that are in doubt; the ones found are published."""
        doubtful = {e.id for e in pending} & self._in_doubt.get(topic, set())
        if not doubtful:
            return {}
        found = await self._find(topic, doubtful)
        self._in_doubt[topic] -= set(found)
        self.verified += len(found)
        return {key: EventOutcome(key, replay_id, verified=True) for key, replay_id in found.items()}

    async def _find(self, topic: str, keys: set[str]) -> dict[str, bytes]:
        fence = self._fences.get(topic)
        start = ReplayStart.after(fence) if fence else ReplayStart("EARLIEST")
        found: dict[str, bytes] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._verify_timeout_s):
                try:
                    await self._scan(topic, start, keys, found)
                except PubSubAuthError:  # the session that broke the stream: log in again
                    await self._scan(topic, start, keys, found, fresh_login=True)
                except ReplayIdInvalid:  # the fence left retention: read what is retained
                    await self._scan(topic, ReplayStart("EARLIEST"), keys, found)
        return found

    async def _scan(
        self, topic: str, start: ReplayStart, keys: set[str], found: dict[str, bytes], *, fresh_login: bool = False
    ) -> None:
        stream = self._client.subscribe(topic, start, fresh_login=fresh_login)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]  # an async generator
            async for batch in stream:
                if not batch.events:
                    return  # a keepalive: everything retained after the start has been read
                for consumer_event in batch.events:
                    if consumer_event.event.id in keys:
                        found[consumer_event.event.id] = bytes(consumer_event.replay_id)
                if len(found) == len(keys):
                    return

    async def _schema(self, topic: str) -> tuple[str, Any]:
        """The topic's current schema id and parsed schema ("use TopicInfo.schema_id" to publish)."""
        cached = self._schemas.get(topic)
        if cached is None:
            info = await self._client.get_topic(topic)
            if not info.can_publish:
                raise TopicNotPublishable(f"{topic} does not allow publishing (TopicInfo.can_publish is false)")
            raw = orjson.loads(await self._client.get_schema(info.schema_id))
            cached = (str(info.schema_id), fastavro.parse_schema(raw))
            self._schemas[topic] = cached
        return cached
