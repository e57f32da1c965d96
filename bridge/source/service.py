"""The source: Pub/Sub API channels onto Kafka, each batch committed with its replay-id checkpoint.

Per channel, a pump subscribes after the last committed replay id (or from the configured preset on first
start), decodes each event with its own writer schema, publishes CloudEvents keyed by record id, and commits
them with the new checkpoint in one Kafka transaction. Errors end a stream; the pump resubscribes:
auth errors log in again, outages back off, and a lost replay position (past retention, or invalid)
starts a reconciliation: the records changed since the last checkpoint's commit time are read and published as
full-state events, then the stream resumes from the earliest retained event. Gap events are reconciled too.

An operator's checkpoint command (`bridge.source.commands`) is applied between two transactions: the pump leaves
its stream, commits the new position, and subscribes from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bridge.config import SourceSettings, TopicSettings
from bridge.events.envelope import CloudEvent, encode_kafka
from bridge.metrics import Metrics
from bridge.pubsub.avro import SchemaCache, decode_payload
from bridge.pubsub.client import FetchBatch, PubSubClient, ReplayStart
from bridge.pubsub.errors import PubSubAuthError, PubSubError, ReplayIdInvalid
from bridge.source.changes import (
    PLATFORM_EVENT_TYPE,
    ChangeEvent,
    from_payload,
    full_state_event,
    per_record,
    to_cloud_event,
)
from bridge.source.channels import entity_of_channel, is_change_channel, kafka_topic
from bridge.source.checkpoint import Checkpoint
from bridge.source.commands import CheckpointCommand
from bridge.source.streams import grouped, raise_if_cancelled, until_set, watched
from bridge.source.writer import OutRecord, TransactionalWriter

log = logging.getLogger(__name__)
# Up to 10 Pub/Sub batches (1,000 events at num_requested=100) share one Kafka transaction.
_MAX_GROUP_BATCHES = 10


class Reconciler(Protocol):
    """Reads current record state from Salesforce when change events were lost."""

    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]: ...

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]: ...


class ChannelPump:
    """Moves one channel into Kafka until cancelled. Constructing it does no I/O."""

    def __init__(
        self,
        channel: str,
        *,
        client: PubSubClient,
        writer: TransactionalWriter,
        reconciler: Reconciler,
        config: SourceSettings,
        topics: TopicSettings,
        client_id: str,
        checkpoint: Checkpoint | None,
        reconcile_entities: Sequence[str] = (),
        metrics: Metrics | None = None,
        clock_ms: Callable[[], int],
    ) -> None:
        self.channel = channel
        self._client = client
        self._writer = writer
        self._reconciler = reconciler
        self._config = config
        self._topics = topics
        self._client_id = client_id
        self.checkpoint = checkpoint
        self._entities = tuple(reconcile_entities) or tuple(filter(None, [entity_of_channel(channel)]))
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._schemas = SchemaCache(client.get_schema)
        self._command: CheckpointCommand | None = None
        self._command_ready = asyncio.Event()
        self.events_written = 0
        self.reconciliations = 0
        self.commands_applied = 0

    def request(self, command: CheckpointCommand) -> None:
        """Apply `command` at the next transaction boundary (a newer request replaces one not yet applied)."""
        self._command = command
        self._command_ready.set()

    def _start(self) -> ReplayStart:
        if self.checkpoint is None:
            return ReplayStart(self._config.first_start)
        if not self.checkpoint.replay_id:  # after a reconciliation or an operator's EARLIEST/LATEST
            return ReplayStart(self.checkpoint.preset or "EARLIEST")
        return ReplayStart.after(self.checkpoint.replay_id)

    async def run(self) -> None:
        """Subscribe, pump, and resubscribe on every recoverable error (or operator command), forever."""
        attempt, fresh = 0, False
        while True:
            raise_if_cancelled()
            if self._command is not None:
                await self._apply(self._command)
            try:
                stream = watched(
                    self._client.subscribe(self.channel, self._start(), fresh_login=fresh), self._config.watchdog_s
                )
                async with contextlib.aclosing(grouped(stream, _MAX_GROUP_BATCHES)) as groups:
                    async for batches in until_set(groups, self._command_ready):
                        attempt, fresh = 0, False
                        await self._handle(batches)
            except ReplayIdInvalid as exc:
                log.warning("channel %s lost its replay position (%s): reconciling", self.channel, exc.error_code)
                await self.reconcile()
            except PubSubAuthError:
                log.info("channel %s: session refused, logging in again", self.channel)
                fresh = True
            except PubSubError as exc:
                raise_if_cancelled()
                if not exc.retryable:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff_s(attempt))
            if self._command is None:
                self._count_retry()

    def _backoff_s(self, attempt: int) -> float:
        ceiling = min(self._config.retry_backoff_max_s, self._config.retry_backoff_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography

    def _count_retry(self) -> None:
        if self._metrics is not None:
            self._metrics.retries.labels(component="source", reason="resubscribe").inc()

    async def _handle(self, batches: Sequence[FetchBatch]) -> None:
        """Commit consecutive batches of events in one transaction; a keepalive is checkpointed in order."""
        events: list[Any] = []
        for batch in batches:
            if batch.events:
                events.extend(batch.events)
                continue
            await self._write_events(events)
            events = []
            await self._keepalive(batch.latest_replay_id)
        await self._write_events(events)

    async def _write_events(self, events: Sequence[Any]) -> None:
        if not events:
            return
        records: list[OutRecord] = []
        newest_ms = self.checkpoint.commit_timestamp_ms if self.checkpoint else 0
        for consumer_event in events:
            cloud_events, commit_ms = await self._convert(consumer_event)
            records.extend(self._out(e) for e in cloud_events)
            newest_ms = max(newest_ms, commit_ms)
        last_replay = bytes(events[-1].replay_id)
        await self._commit(records, Checkpoint(self.channel, last_replay, newest_ms))

    async def _keepalive(self, latest: bytes) -> None:
        # Store keepalive positions too, or a quiet channel's stored id falls out of retention.
        if latest and (self.checkpoint is None or latest != self.checkpoint.replay_id):
            newest_ms = self.checkpoint.commit_timestamp_ms if self.checkpoint else self._clock_ms()
            await self._commit([], Checkpoint(self.channel, latest, newest_ms))

    async def _commit(self, records: list[OutRecord], checkpoint: Checkpoint) -> None:
        previous = self.checkpoint
        if previous is not None and not checkpoint.applied_command:  # the applied command stays applied
            checkpoint = dataclasses.replace(checkpoint, applied_command=previous.applied_command)
        if previous is not None and previous.preset == "LATEST" and not previous.replay_id and checkpoint.replay_id:
            # The first position after a LATEST start: what changed since the old position (skipped by LATEST)
            # goes out in its current state, in this same transaction, after the events.
            records = [*records, *await self._snapshots(previous.commit_timestamp_ms)]
        await self._writer.commit(records, checkpoint)
        self.checkpoint = checkpoint
        self.events_written += len(records)
        if self._metrics is not None:
            for record in records:
                self._metrics.events.labels(topic=record.topic, outcome="published").inc()
            self._metrics.source_replay_lag.labels(channel=self.channel).set(
                max(0.0, (self._clock_ms() - checkpoint.commit_timestamp_ms) / 1000)
            )

    async def _convert(self, consumer_event: Any) -> tuple[list[CloudEvent], int]:
        event = consumer_event.event
        schema, parsed = await self._schemas.get(event.schema_id)
        decoded = decode_payload(parsed, event.payload)
        replay_hex = bytes(consumer_event.replay_id).hex()
        if "ChangeEventHeader" not in decoded:
            return [self._platform_event(event.id, decoded, replay_hex)], int(decoded.get("CreatedDate", 0))
        change = from_payload(schema, decoded, replay_id=replay_hex, channel=self.channel, client_id=self._client_id)
        converted = [to_cloud_event(e, source=self._source()) for e in per_record(change)]
        if change.change_type.startswith("GAP_"):
            converted += [to_cloud_event(e, source=self._source()) for e in await self._gap(change)]
        return converted, change.commit_timestamp_ms

    def _platform_event(self, event_id: str, decoded: dict[str, Any], replay_hex: str) -> CloudEvent:
        name = self.channel.removeprefix("/event/")
        return CloudEvent(
            id=event_id or f"{name}:{replay_hex}",
            source=self._source(),
            type=PLATFORM_EVENT_TYPE,
            data=decoded,
            subject=name,
            partitionkey=event_id or replay_hex,
            extensions={"replayid": replay_hex, "channel": self.channel},
        )

    def _source(self) -> str:
        return f"salesforce:pubsub{self.channel}"

    def _out(self, cloud_event: CloudEvent) -> OutRecord:
        topic = kafka_topic(
            self.channel,
            cloud_event.sobject,
            cdc_prefix=self._topics.cdc_prefix,
            events_prefix=self._topics.events_prefix,
        )
        record = encode_kafka(cloud_event)
        return OutRecord(topic, record.key, record.value, record.headers)

    async def _gap(self, change: ChangeEvent) -> list[ChangeEvent]:
        """A gap event says changes were not captured: read the records (or the entity) as they are now."""
        now_ms = self._clock_ms()
        if change.change_type == "GAP_OVERFLOW" or not change.record_ids or change.record_ids[0].endswith("*"):
            since = self.checkpoint.commit_timestamp_ms if self.checkpoint else 0
            rows = await self._reconciler.changed_since(change.entity, since)
        else:
            rows = await self._reconciler.read(change.entity, change.record_ids)
        return [full_state_event(change.entity, row, channel=self.channel, now_ms=now_ms) for row in rows]

    async def _snapshots(self, since_ms: int) -> list[OutRecord]:
        """Full-state events for every record of the channel's entities changed since `since_ms`."""
        if not is_change_channel(self.channel):
            log.error("channel %s: platform events skipped or past retention cannot be recovered", self.channel)
            return []
        now_ms = self._clock_ms()
        records: list[OutRecord] = []
        for entity in self._entities:
            for row in await self._reconciler.changed_since(entity, since_ms):
                change = full_state_event(entity, row, channel=self.channel, now_ms=now_ms)
                records.append(self._out(to_cloud_event(change, source=self._source())))
        self.reconciliations += 1
        return records

    async def reconcile(self) -> int:
        """Publish full-state events for every record changed since the last checkpoint; returns the count."""
        since = self.checkpoint.commit_timestamp_ms if self.checkpoint else 0
        records = await self._snapshots(since)
        # The old position is gone; the next subscription starts at EARLIEST: the checkpoint keeps the time.
        checkpoint = Checkpoint(self.channel, b"", max(since, self._clock_ms()), preset="EARLIEST")
        await self._commit(records, checkpoint)
        return len(records)

    async def _apply(self, command: CheckpointCommand) -> None:
        """Move the checkpoint as `command` says, in one transaction with what covers the gap it opens."""
        self._command = None
        self._command_ready.clear()
        since = self.checkpoint.commit_timestamp_ms if self.checkpoint else 0
        records: list[OutRecord] = []
        if command.target == "REPLAY_ID":
            # The direction is unknown (replay ids are opaque): cover a skip; a step back only repeats events.
            records = await self._snapshots(since)
            checkpoint = Checkpoint(self.channel, command.replay_id, max(since, self._clock_ms()))
        else:
            # LATEST is covered when its first position is committed (see `_commit`): nothing is lost in between.
            checkpoint = Checkpoint(self.channel, b"", since, preset=command.target)
        await self._commit(records, dataclasses.replace(checkpoint, applied_command=command.command_id))
        self.commands_applied += 1
        log.warning(
            "channel %s: checkpoint set to %s by command %s (%d record(s) reconciled)",
            self.channel,
            command.describe(),
            command.command_id,
            len(records),
        )
