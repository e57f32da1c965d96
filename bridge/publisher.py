"""The Publisher SDK: check an event against its schema, send it idempotently, return once Kafka acknowledged.

    async with Publisher(Settings()) as pub:
        result = await pub.publish(event)             # PublishResult(topic, partition, offset)
        results = await pub.publish_many(events)      # one result per event: ok, or the error

Nothing is sent for an event that is too large (`EventTooLarge`), of an unknown type (`UnknownEventType`),
malformed (`MalformedEvent`) or invalid against its schema (`SchemaViolation`). A cluster that cannot be
reached, or does not acknowledge within the timeout, gives `KafkaUnavailable` (retryable). A timed-out
record may still be written later; retrying it is safe for the bridge, which dedupes by external ID and
sequence.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer

from bridge.config import Settings
from bridge.errors import BridgeError, EventError, EventTooLarge, KafkaUnavailable
from bridge.events.envelope import CloudEvent, KafkaRecord, encode_data, kafka_headers, kafka_key
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.producer import create_producer, map_kafka_error
from bridge.metrics import Metrics

ProducerFactory = Callable[[], AIOKafkaProducer]

_READY_TIMEOUT_S = 5.0
_HEADERS_BOUND_BYTES = 48 * 1024


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The outcome of one event: where the broker stored it, or why it was not sent/acknowledged."""

    event_id: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    error: BridgeError | None = None

    @property
    def ok(self) -> bool:
        """True when the broker acknowledged the event."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event that passed every check, encoded and routed: only sending is left."""

    event: CloudEvent
    topic: str
    record: KafkaRecord


class Publisher:
    """Publishes CloudEvents to their domain topics. An async context manager; the constructor does no I/O."""

    def __init__(
        self,
        settings: Settings,
        *,
        schemas: SchemaRegistry | None = None,
        metrics: Metrics | None = None,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self._settings = settings
        self._schemas = schemas
        self._metrics = metrics
        self._factory = producer_factory or (lambda: create_producer(settings.kafka, settings.publisher))
        self._producer: AIOKafkaProducer | None = None

    def __repr__(self) -> str:
        state = "started" if self._producer is not None else "stopped"
        return f"Publisher(bootstrap_servers={self._settings.kafka.bootstrap_servers!r}, {state})"

    async def __aenter__(self) -> Self:
        if self._schemas is None:
            self._schemas = SchemaRegistry.load(self._settings.processor.schemas_dir)
        producer = self._factory()
        try:
            async with asyncio.timeout(self._settings.kafka.request_timeout_s):
                await producer.start()
        except Exception as exc:
            await producer.stop()
            raise map_kafka_error(exc) from exc
        self._producer = producer
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered

    @property
    def schemas(self) -> SchemaRegistry:
        """The schema registry in use (loaded on entry when not injected)."""
        if self._schemas is None:
            raise RuntimeError("use `async with Publisher(...)` first")
        return self._schemas

    def prepare(self, event: CloudEvent, *, topic: str | None = None) -> PreparedEvent:
        """Check size, type, envelope and payload, and encode. Pure: raises an `EventError`, sends nothing."""
        limit = self._settings.publisher.max_event_bytes
        value = encode_data(event)
        if value is not None and len(value) > limit:
            raise EventTooLarge(f"event {event.id[:200]!r} data is {len(value)} bytes; the limit is {limit}")
        checked, attributes = self.schemas.check_attributes(event)
        record = KafkaRecord(kafka_key(checked), value, kafka_headers(checked, attributes))
        # The envelope schema bounds the headers to well under the producer's allowance; count them only
        # when the data is close to the limit.
        if len(value or b"") + _HEADERS_BOUND_BYTES > limit and (size := _record_size(record)) > limit:
            raise EventTooLarge(f"event {event.id[:200]!r} is {size} bytes encoded; the limit is {limit}")
        return PreparedEvent(checked, topic or self.schemas.spec(checked.type).topic_for(checked.lane), record)

    async def publish(
        self, event: CloudEvent, *, topic: str | None = None, timeout_s: float | None = None
    ) -> PublishResult:
        """Publish one event and wait for the broker's acknowledgement. Raises a `BridgeError` on failure."""
        result = (await self.publish_many([event], topic=topic, timeout_s=timeout_s))[0]
        if result.error is not None:
            raise result.error
        return result

    async def publish_many(
        self, events: Iterable[CloudEvent], *, topic: str | None = None, timeout_s: float | None = None
    ) -> list[PublishResult]:
        """Publish events concurrently; one result per event, in order. Invalid events are not sent."""
        slots: list[PublishResult | PreparedEvent] = []
        for event in events:
            try:
                slots.append(self.prepare(event, topic=topic))
            except EventError as exc:
                slots.append(PublishResult(event.id, error=exc))
        prepared = [slot for slot in slots if isinstance(slot, PreparedEvent)]
        if len(prepared) < len(slots):
            self._count([slot for slot in slots if isinstance(slot, PublishResult)])
        sent = iter(await self.send_many(prepared, timeout_s=timeout_s))
        return [slot if isinstance(slot, PublishResult) else next(sent) for slot in slots]

    async def send_many(self, prepared: list[PreparedEvent], *, timeout_s: float | None = None) -> list[PublishResult]:
        """Send checked events concurrently and wait (bounded by `timeout_s`) for every acknowledgement."""
        producer = self._started()
        timeout = timeout_s if timeout_s is not None else self._settings.kafka.delivery_timeout_s
        acks: list[asyncio.Future[Any] | BridgeError] = []
        try:
            async with asyncio.timeout(timeout):
                for item in prepared:
                    acks.append(await self._send_one(producer, item))
                pending = [ack for ack in acks if isinstance(ack, asyncio.Future)]
                if pending:
                    await asyncio.wait(pending)  # cancelling the wait leaves the sends queued
        except TimeoutError:
            unsent = KafkaUnavailable(f"Kafka did not take the record within {timeout:g} s", retry_after_s=1.0)
            acks.extend(unsent for _ in range(len(prepared) - len(acks)))
        results = [_result(item, ack, timeout) for item, ack in zip(prepared, acks, strict=True)]
        self._count(results)
        return results

    async def ready(self) -> bool:
        """Readiness: the producer is started and a broker answers a metadata request."""
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(_READY_TIMEOUT_S):
                await producer.client.fetch_all_metadata()
        except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is in aiokafka's log
            return False
        return True

    async def _send_one(self, producer: AIOKafkaProducer, item: PreparedEvent) -> asyncio.Future[Any] | BridgeError:
        record = item.record
        started = time.perf_counter()
        try:
            # `send` only waits when the accumulator is full; the acknowledgement is the returned future.
            ack: asyncio.Future[Any] = await producer.send(
                item.topic, value=record.value, key=record.key, headers=record.headers
            )
        except Exception as exc:  # noqa: BLE001 - mapped into the bridge's errors, reported per event
            return map_kafka_error(exc)
        if self._metrics is not None:
            ack.add_done_callback(_latency_observer(self._metrics, started))
        return ack

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("use `async with Publisher(...)` first")
        return self._producer

    def _count(self, results: list[PublishResult]) -> None:
        if self._metrics is None:
            return
        counts = collections.Counter((r.topic or "", "published" if r.ok else _outcome(r.error)) for r in results)
        for (topic, outcome), n in counts.items():
            self._metrics.events.labels(topic=topic, outcome=outcome).inc(n)


def _outcome(error: BridgeError | None) -> str:
    return "rejected" if isinstance(error, EventError) else "failed"


def _result(item: PreparedEvent, ack: asyncio.Future[Any] | BridgeError, timeout_s: float) -> PublishResult:
    event_id = item.event.id
    if isinstance(ack, BridgeError):
        return PublishResult(event_id, topic=item.topic, error=ack)
    if not ack.done():
        # The record stays queued in the producer and may still be written: the caller decides to retry.
        ack.add_done_callback(_retrieve)
        error = KafkaUnavailable(f"no acknowledgement within {timeout_s:g} s", retry_after_s=1.0)
        return PublishResult(event_id, topic=item.topic, error=error)
    exc = ack.exception()
    if exc is not None:
        return PublishResult(event_id, topic=item.topic, error=map_kafka_error(exc))
    meta = ack.result()
    return PublishResult(event_id, topic=meta.topic, partition=meta.partition, offset=meta.offset)


def _retrieve(ack: asyncio.Future[Any]) -> None:
    """Mark a late outcome as seen, so asyncio does not log 'exception was never retrieved'."""
    if not ack.cancelled():
        ack.exception()


def _record_size(record: KafkaRecord) -> int:
    size = len(record.value or b"") + len(record.key or b"")
    return size + sum(len(name) + len(value) for name, value in record.headers)


def _latency_observer(metrics: Metrics, started: float) -> Callable[[asyncio.Future[Any]], None]:
    def observe(ack: asyncio.Future[Any]) -> None:
        if not ack.cancelled() and ack.exception() is None:
            metrics.publish_latency.observe(time.perf_counter() - started)

    return observe


__all__ = ["PreparedEvent", "ProducerFactory", "PublishResult", "Publisher"]
