"""The faust app of the processor: built in a function, two agents over the domain topics, one dedupe table.

This is the only module that imports faust. Its agents read batches (of the real-time domain topics: closed at
each event; of the others: by the coalescing window or `max_batch_records`), hand them to the pure
`process_batch`, produce the writes and dead letters, wait for every acknowledgement, then store the keys'
states in the table and let faust acknowledge the input. The table's changelog topic
(`<app_id>-dedupe-changelog`, compacted) is written to the partition of the source record, which owns the key
(`sobject:external_id`), so a restarted or rebalanced worker recovers exactly the states of the partitions it is
given (faust assigns the same partition numbers of every source topic to one worker: they are co-partitioned).

    built = build_app(ProcessorWiring(settings, context, metrics, source_topics))
    Worker(built.app).execute_from_commandline()   # or `crm-bridge run processor` (the composition root)
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust

from bridge.config import Settings
from bridge.events import SchemaRegistry
from bridge.metrics import Metrics
from bridge.processing.batch import BatchContext, BatchResult, InRecord, process_batch
from bridge.processing.dedupe import KeyState, decode_state, encode_state
from bridge.processing.records import Origin
from bridge.processing.routing import Outbound
from bridge.processor.delivery import send_batched
from bridge.processor.take import take_batches
from bridge.types import Outcome

log = logging.getLogger(__name__)

TABLE_NAME = "dedupe"


@dataclass(frozen=True, slots=True)
class ProcessorWiring:
    """Everything the app is built from (settings, the core, the metrics registry, its source topics)."""

    settings: Settings
    context: BatchContext
    metrics: Metrics
    source_topics: tuple[str, ...]


TURN_RECORDS = 250  # batch events decided at a time while real-time batches wait their turn (~0.1 s of CPU)


def faust_config(settings: Settings) -> dict[str, Any]:
    """faust settings: memory store (state comes back from the changelog), no web server, no autodiscovery."""
    kafka, topics, processor = settings.kafka, settings.topics, settings.processor
    return {
        "broker": f"kafka://{kafka.bootstrap_servers}",
        "store": "memory://",
        "autodiscover": False,
        "web_enabled": False,
        "topic_partitions": topics.partitions,
        "topic_replication_factor": topics.replication_factor,
        "topic_disable_leader": True,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        # A subscribed topic that appears (or is recreated) later joins the assignment within 5 s, not 5 min.
        "consumer_metadata_max_age_ms": 5_000,
        "producer_acks": -1,
        # One consumer delivers every fetched record, in fetch order, to its agent's buffer and waits while that
        # buffer is full: a real-time event queues behind whatever was fetched before it, so keep it at one batch.
        "stream_buffer_maxsize": processor.max_batch_records,
        # faust's default prefetches 1 MiB per partition: thousands of nightly events ahead of an edit.
        "consumer_max_fetch_size": processor.max_fetch_bytes,
        "broker_commit_every": processor.max_batch_records,
        "broker_commit_interval": 1.0,
        "table_standby_replicas": 0,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }


def _in_record(event: Any) -> InRecord:
    message = event.message
    headers = tuple((str(name), bytes(value or b"")) for name, value in (message.headers or ()))
    origin = Origin(message.topic, message.partition, message.offset)
    timestamp = message.timestamp  # seconds (faust); CreateTime set by the Publisher's producer, or LogAppendTime
    timestamp_ms = round(timestamp * 1000) if isinstance(timestamp, int | float) and timestamp > 0 else None
    return InRecord(origin, message.key, message.value, headers, timestamp_ms)


def count(metrics: Metrics, result: BatchResult) -> None:
    """Every input record once in `events{topic,outcome}`, with its reason in the matching family.

    Tallied per batch first: one increment per label set, not one per record.
    """
    events: Counter[tuple[str, str]] = Counter()
    skips: Counter[str] = Counter()
    letters: Counter[tuple[str, str]] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    unevaluated: Counter[tuple[str, str]] = Counter()
    for item in result.accounted:
        events[item.topic, item.outcome.value] += 1
        if item.outcome is Outcome.SKIPPED:
            skips[item.reason or ""] += 1
        elif item.outcome is Outcome.DEAD_LETTERED:
            letters[item.stage or "", item.reason or ""] += 1
        failures.update((item.sobject or "", violation.rule) for violation in item.violations)
        unevaluated.update((item.sobject or "", skipped.rule) for skipped in item.not_evaluable)
    for (topic, outcome), n in events.items():
        metrics.events.labels(topic=topic, outcome=outcome).inc(n)
    for reason, n in skips.items():
        metrics.dedupe_skips.labels(reason=reason).inc(n)
    for (stage, reason), n in letters.items():
        metrics.dead_letters.labels(stage=stage, reason=reason).inc(n)
    for (sobject, rule), n in failures.items():
        metrics.validation_failures.labels(sobject=sobject, rule=rule).inc(n)
    for (sobject, rule), n in unevaluated.items():
        metrics.rules_not_evaluable.labels(sobject=sobject, rule=rule).inc(n)


class DedupeStore:
    """The faust table seen as `key -> KeyState`; writes go to the changelog partition that owns the key."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: str) -> KeyState | None:
        """The stored state of `key` (None: never applied, or not recovered on this worker)."""
        return decode_state(self._table.data.get(key.encode()))

    def changelog(self, states: dict[str, tuple[int, KeyState]]) -> list[Outbound]:
        """The changelog records for `states`, each on the partition of the source record that owns the key.

        Produced directly (not through the table's buffered `send_changelog`): the batch waits for their
        acknowledgements like it waits for the writes', which is both faster and a stronger guarantee.
        """
        topic = self._table.changelog_topic.get_topic_name()
        return [
            Outbound(topic, key.encode(), encode_state(state), (), partition)
            for key, (partition, state) in states.items()
        ]

    def apply(self, changelog: Sequence[Outbound]) -> None:
        """Make acknowledged changelog records visible to lookups."""
        data = self._table.data
        for record in changelog:
            data[record.key] = record.value

    def __len__(self) -> int:
        return len(self._table.data)


async def _send_all(app: Any, messages: Sequence[Outbound]) -> list[Any]:
    """Hand every record to the producer, then wait for all acknowledgements; a failure comes back as a value.

    With faust's aiokafka driver the records go as one record batch per partition (`send_batched`); otherwise
    one `send` each, their futures gathered directly (no task per record).
    """
    # faust has no public handle on its aiokafka producer; `_ensure_producer` is its driver's own accessor.
    ensure = getattr(app.producer, "_ensure_producer", None)
    if ensure is not None:
        return await send_batched(ensure(), messages, max_record_bytes=app.conf.producer_max_request_size)
    futures: list[Any] = []
    for message in messages:
        try:
            headers = list(message.headers)
            futures.append(
                await app.producer.send(message.topic, message.key, message.value, message.partition, None, headers)
            )
        except Exception as exc:  # noqa: BLE001 - every send failure is retried by `deliver`; none may drop a record
            futures.append(asyncio.get_running_loop().create_future())
            futures[-1].set_exception(exc)
    return list(await asyncio.gather(*futures, return_exceptions=True))


async def deliver(app: Any, outbound: Sequence[Outbound], metrics: Metrics, backoff_max_s: float = 30.0) -> None:
    """Produce every record and wait for its acknowledgement, retrying failed ones until they are taken.

    While this waits the batch is not acknowledged, so the input's offsets are not committed (backpressure,
    invariant 2). A retry may duplicate a record that was in fact written: harmless, writes are upserts.
    """
    pending, delay_s = list(outbound), 0.2
    while pending:
        results = await _send_all(app, pending)
        failed = [(m, r) for m, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            log.warning("%d of %d records not acknowledged (%r); retrying", len(failed), len(pending), failed[0][1])
            metrics.retries.labels(component="processor", reason=type(failed[0][1]).__name__).inc()
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, backoff_max_s)
        pending = [message for message, _ in failed]


async def handle_batch(app: Any, store: DedupeStore, wiring: ProcessorWiring, events: Sequence[Any]) -> None:
    """One batch: decide, produce and await every ack, then store states (faust acks the input after)."""
    result = process_batch([_in_record(event) for event in events], wiring.context, store.get)

    async def complete() -> None:
        # Order matters (invariant 2): writes and dead letters first, then the key states that say they were
        # done, then (after this returns) faust acknowledges the input.
        await deliver(app, result.outbound, wiring.metrics)
        changelog = store.changelog(result.states)
        await deliver(app, changelog, wiring.metrics)
        store.apply(changelog)
        count(wiring.metrics, result)

    # Shielded: a shutdown that cancels the agent lets the batch's writes and states finish.
    await asyncio.shield(complete())


@dataclass(frozen=True, slots=True)
class ProcessorApp:
    """The built faust app and its dedupe store (for inspection by tests and the benchmark)."""

    app: Any
    store: DedupeStore
    source_topics: tuple[str, ...] = ()


def realtime_topics(registry: SchemaRegistry, source_topics: Sequence[str]) -> frozenset[str]:
    """The source topics that carry real-time events (named as `realtime_topic` by an event schema)."""
    return frozenset(registry.realtime_topics) & frozenset(source_topics)


def build_app(wiring: ProcessorWiring) -> ProcessorApp:
    """The faust app with its agents and table; nothing runs until a faust Worker starts it.

    Two agents share the table: one over the real-time domain topics, whose batches close at each event, and one
    over the others, which coalesce over the window. Each has its own stream buffer, so an edit never queues
    behind thousands of prefetched batch events (faust pauses the partitions of a full buffer, not the others).
    Their batches take turns (one lock): each batch reads and writes the key states of whatever it holds.
    """
    settings = wiring.settings
    app = faust.App(settings.processor.app_id, **faust_config(settings))
    table = app.Table(TABLE_NAME, default=None, key_type=bytes, value_type=bytes, partitions=settings.topics.partitions)
    store = DedupeStore(table)
    max_records = settings.processor.max_batch_records
    window_s = settings.processor.coalesce_window_s or 0.05
    urgent = realtime_topics(wiring.context.registry, wiring.source_topics)
    others = tuple(topic for topic in wiring.source_topics if topic not in urgent)
    turns = asyncio.Lock()

    def topic(names: Sequence[str]) -> Any:
        return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def process(stream: Any) -> None:
        async for events in stream.take_events(max_records, within=window_s):
            # In turns of TURN_RECORDS: deciding a batch is CPU that blocks the loop, and a real-time batch
            # waiting for the lock gets it between two turns instead of after the whole batch.
            for start in range(0, len(events), TURN_RECORDS):
                async with turns:
                    await handle_batch(app, store, wiring, events[start : start + TURN_RECORDS])

    async def process_realtime(stream: Any) -> None:
        async for events in take_batches(stream, max_records, within_s=window_s, urgent=lambda _: True):
            async with turns:
                await handle_batch(app, store, wiring, events)

    if others:
        app.agent(topic(others), name="process")(process)
    if urgent:
        app.agent(topic(sorted(urgent)), name="process_realtime")(process_realtime)
    return ProcessorApp(app, store, wiring.source_topics)
