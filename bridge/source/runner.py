"""The source role's composition: checkpoints, the transactional producer, the Pub/Sub client and one pump per
channel, run until stopped. Salesforce-specific collaborators (credentials, reconciliation reads) are injected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from bridge.config import Settings
from bridge.kafka.producer import producer_config
from bridge.kafka.topics import TopicSpec, bridge_topics, ensure_topics
from bridge.metrics import Metrics
from bridge.pubsub.client import CredentialsProvider, PubSubClient
from bridge.source.checkpoint import CheckpointState, load_state, watch_commands
from bridge.source.commands import CheckpointCommand
from bridge.source.service import ChannelPump, Reconciler
from bridge.source.writer import TransactionalWriter

log = logging.getLogger(__name__)


def transactional_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent, acks=all producer with the deployment's fixed transactional id (zombie fencing)."""
    config = producer_config(settings.kafka, settings.publisher)
    config["transactional_id"] = settings.source.transactional_id
    return AIOKafkaProducer(**config)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def run_source(
    settings: Settings,
    *,
    credentials: CredentialsProvider,
    reconciler: Reconciler,
    reconcile_entities: Sequence[str] = (),
    metrics: Metrics | None = None,
    stop: asyncio.Event | None = None,
) -> list[ChannelPump]:
    """Pump every configured channel into Kafka until `stop` is set (or forever); returns the pumps."""
    kafka, topics = settings.kafka, settings.topics
    await ensure_topics(kafka, [s for s in bridge_topics(settings) if s.name == topics.source_checkpoints])

    async def ensure_cdc(names: set[str]) -> None:
        specs = [TopicSpec(n, topics.partitions, topics.replication_factor, {}) for n in sorted(names)]
        await ensure_topics(kafka, specs)

    producer = transactional_producer(settings)
    # Fence first, then read the checkpoints: starting the producer (InitProducerId) aborts a previous instance's
    # open transaction and refuses its later ones, so what is read next is final. Read before fencing, a zombie
    # could still commit past the position this instance resumes from, and its events would be written twice.
    await producer.start()
    try:
        state = await load_state(str(kafka.bootstrap_servers), topics.source_checkpoints)
        checkpoints = state.checkpoints
        log.info("source resuming %d channel(s) from checkpoints: %s", len(checkpoints), sorted(checkpoints))
        writer = TransactionalWriter(producer, topics.source_checkpoints, ensure_topics=ensure_cdc)
        async with _client(settings, credentials) as client:
            pumps = [
                ChannelPump(
                    channel,
                    client=client,
                    writer=writer,
                    reconciler=reconciler,
                    config=settings.source,
                    topics=topics,
                    client_id=settings.salesforce.call_options_client,
                    checkpoint=checkpoints.get(channel),
                    reconcile_entities=reconcile_entities,
                    metrics=metrics,
                    clock_ms=_now_ms,
                )
                for channel in settings.source.channels
            ]
            await _pump_with_commands(settings, state, pumps, stop)
            return pumps
    finally:
        await producer.stop()


def _client(settings: Settings, credentials: CredentialsProvider) -> PubSubClient:
    source = settings.source
    return PubSubClient(
        source.pubsub_target,
        credentials=credentials,
        tls=source.pubsub_tls,
        num_requested=source.num_requested,
        reconnect_backoff_s=(source.retry_backoff_s, source.retry_backoff_max_s),
    )


async def _pump_with_commands(
    settings: Settings, state: CheckpointState, pumps: list[ChannelPump], stop: asyncio.Event | None
) -> None:
    """Run the pumps, applying checkpoint commands: those recorded while no source ran first, then new ones."""
    by_channel = {pump.channel: pump for pump in pumps}
    for command in state.pending().values():
        _deliver(by_channel, command)  # recorded while no source ran: applied before subscribing
    watcher = watch_commands(
        str(settings.kafka.bootstrap_servers),
        settings.topics.source_checkpoints,
        state.end_offsets,
        lambda command: _deliver(by_channel, command),
    )
    await _run_until_stopped(pumps, stop, watcher)


def _deliver(pumps: dict[str, ChannelPump], command: CheckpointCommand) -> None:
    pump = pumps.get(command.channel)
    if pump is None:
        log.warning(
            "checkpoint command %s names %s, which this source does not run", command.command_id, command.channel
        )
        return
    log.info("channel %s: checkpoint command %s (%s) received", command.channel, command.command_id, command.describe())
    pump.request(command)


async def _run_until_stopped(
    pumps: Sequence[ChannelPump], stop: asyncio.Event | None, watcher: Coroutine[Any, Any, None]
) -> None:
    tasks = [asyncio.create_task(p.run(), name=f"source:{p.channel}") for p in pumps]
    tasks.append(asyncio.create_task(watcher, name="source:checkpoint-commands"))
    waiter = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter:
                task.result()  # a pump (or the command watcher) only ends by raising: surface it
    finally:
        for task in [*tasks, waiter]:
            task.cancel()
        # gather, not `suppress(CancelledError)` per task: that would also swallow a cancel of run_source itself.
        await asyncio.gather(*tasks, waiter, return_exceptions=True)
