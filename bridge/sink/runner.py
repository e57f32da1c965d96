"""The sink's composition: the Kafka consumer and producer built from settings, the governor gate, one `Sink`.

    metrics = Metrics.create(registry)
    gate = build_gate(settings, metrics)
    async with SalesforceClient(settings, auth_from_settings(settings), on_limit_info=gate.observe) as client:
        await run_sink(settings, client, gate, stop, metrics=metrics)

`crm-bridge run sink` calls exactly this. Several processes with the same `sink.group_id` share the write
partitions and, through the governor's share, the API budget (see `bridge.governor.core`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bridge.config import Settings
from bridge.events import SchemaRegistry
from bridge.governor import Governor, GovernorGate
from bridge.kafka.producer import create_producer, producer_config
from bridge.kafka.topics import ensure_topics, sink_topics
from bridge.metrics import Metrics
from bridge.sink.delivery import SinkStats
from bridge.sink.executor import RecordWriter
from bridge.sink.sink import Sink, SinkWiring
from bridge.sink.upstream import UpstreamProbe

# How often consumers refresh topic metadata: a topic created after the worker subscribed (or recreated) is
# consumed within this long, not after the client's default of five minutes.
METADATA_MAX_AGE_MS = 5_000

_SECURITY_KEYS = ("security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")


def build_gate(settings: Settings, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> GovernorGate:
    """The governor of this worker, starting with the whole share until the first assignment says otherwise."""
    return GovernorGate(Governor(settings.governor, now_s=clock()), clock=clock, metrics=metrics)


def _connection(settings: Settings) -> dict[str, Any]:
    common = producer_config(settings.kafka, settings.publisher)  # validates bootstrap and security once
    config: dict[str, Any] = {key: common[key] for key in _SECURITY_KEYS if key in common}
    return config | {"bootstrap_servers": common["bootstrap_servers"]}


async def open_upstream_probe(settings: Settings, stack: AsyncExitStack) -> UpstreamProbe:
    """The probe of the processor's progress: its group (`processor.app_id`) on its source topics."""
    connection = _connection(settings)
    client_id = f"{settings.kafka.client_id}-sink-upstream"
    admin = AIOKafkaAdminClient(**connection, client_id=client_id)
    await admin.start()
    stack.push_async_callback(admin.close)
    offsets = AIOKafkaConsumer(**connection, client_id=client_id, enable_auto_commit=False)
    await offsets.start()
    stack.push_async_callback(offsets.stop)
    topics = settings.processor.source_topics or SchemaRegistry.load(settings.processor.schemas_dir).topics
    return UpstreamProbe(admin, offsets, group_id=settings.processor.app_id, topics=topics)


def consumer_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the sink's `AIOKafkaConsumer`: one group, manual commits, from the earliest offset."""
    config = _connection(settings)
    config.update(
        client_id=f"{settings.kafka.client_id}-sink",
        group_id=settings.sink.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        # The outcomes of a 100,000-record Bulk API job take seconds of CPU to produce: the default 30 s session
        # keeps such a stretch from costing the group membership (and redoing the job elsewhere); a dead
        # worker's partitions move to the survivors after it.
        session_timeout_ms=int(settings.sink.session_timeout_s * 1000),
        heartbeat_interval_ms=2_000,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    return config


async def run_sink(
    settings: Settings,
    writer: RecordWriter,
    gate: GovernorGate,
    stop: asyncio.Event,
    *,
    metrics: Metrics,
    burst: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> SinkStats:
    """Run one sink worker until `stop` is set (or, with `burst`, until it is caught up and idle).

    The topics it reads and writes are created first if missing, before any client's metadata request could
    have the broker auto-create them with its own defaults."""
    await ensure_topics(settings.kafka, sink_topics(settings))
    async with AsyncExitStack() as stack:
        consumer = AIOKafkaConsumer(**consumer_config(settings))
        producer = create_producer(settings.kafka, settings.publisher)
        await producer.start()
        stack.push_async_callback(producer.stop)
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        upstream = await open_upstream_probe(settings, stack)
        wiring = SinkWiring(settings, writer, gate, consumer, producer, metrics, clock=clock, upstream=upstream)
        sink = await stack.enter_async_context(Sink(wiring))
        return await sink.run(stop, burst=burst)
    raise AssertionError("unreachable")  # pragma: no cover - the context manager does not swallow exceptions
