"""The typed reader for downstream Python systems: `crm.cdc.*` topics as an async stream of `ChangeEvent`s.

Reads only committed transactions (`isolation_level="read_committed"`), so a change is seen once even when the
source was killed mid-batch. Offsets are committed only when the caller says it has processed what it was handed
(`await stream.commit()`), so a crash between processing and commit redelivers, never loses (at-least-once on the
consumer side; dedupe on `event.event_id` if that matters). A record that is not a change event is skipped with a
logged reason and counted in `stream.skipped`; it never stops the stream.

    async with ChangeStream("kafka:9092", r"crm\\.cdc\\..*", group_id="erp-sync") as stream:
        async for event in stream:
            apply(event.entity, event.record_ids, event.fields)
            await stream.commit()       # or every N events: commit covers everything handed out so far
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from bridge.errors import BridgeError, EventError, KafkaUnavailable
from bridge.metrics import Metrics
from bridge.source.changes import ChangeEvent, decode_change_record

log = logging.getLogger(__name__)


class CommitFailed(BridgeError):
    """The group rebalanced before the commit: events handed out since the last commit will be delivered again
    (to this member or another). Not retryable as such; carry on iterating."""


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped here
    """Forgets positions and buffered records of partitions taken away by a rebalance."""

    def __init__(self, stream: ChangeStream) -> None:
        self._stream = stream

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Commit what was processed while the partitions are still ours; the next owner starts after it.
        await self._stream.commit_quietly()
        self._stream.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


class ChangeStream:
    """A consumer-group subscription to change topics yielding `ChangeEvent`s. Constructing it does no I/O.

    `topics` is a list of topic names or one regular expression (a `str`), e.g. `r"crm\\.cdc\\..*"`; topics that
    appear later (a new object's first change) are picked up within `metadata_max_age_s`.
    Echoes (changes the bridge itself wrote to Salesforce) are skipped unless `include_echoes`.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str] | str,
        group_id: str,
        *,
        include_echoes: bool = False,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        max_records: int = 500,
        metrics: Metrics | None = None,
        metadata_max_age_s: float = 30.0,
    ) -> None:
        self._topics = topics
        self._include_echoes = include_echoes
        self._max_records = max_records
        self._metrics = metrics
        self._consumer_config = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": group_id,
            "isolation_level": "read_committed",
            "enable_auto_commit": False,
            "auto_offset_reset": auto_offset_reset,
            # The source creates `crm.cdc.<SObject>` on its first change: look for new topics every 30 s, not 5 min.
            "metadata_max_age_ms": int(metadata_max_age_s * 1000),
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._buffer: deque[ConsumerRecord[bytes, bytes]] = deque()
        self._handed: dict[TopicPartition, int] = {}  # next offset per partition, up to what was handed out
        self.skipped: Counter[str] = Counter()
        self.delivered = 0

    def __repr__(self) -> str:
        return (
            f"ChangeStream(topics={self._topics!r}, delivered={self.delivered}, "
            f"skipped={sum(self.skipped.values())}, uncommitted={len(self._handed)})"
        )

    async def __aenter__(self) -> ChangeStream:
        consumer = AIOKafkaConsumer(**self._consumer_config)
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise KafkaUnavailable(f"change stream cannot connect: {exc}") from exc
        listener = _Revocations(self)
        if isinstance(self._topics, str):
            consumer.subscribe(pattern=self._topics, listener=listener)
        else:
            consumer.subscribe(topics=list(self._topics), listener=listener)
        self._consumer = consumer
        return self

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """The underlying aiokafka consumer (open streams only), e.g. for `seek` or lag inspection."""
        if self._consumer is None:
            raise RuntimeError("ChangeStream is not open: use `async with`")
        return self._consumer

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Nothing is committed implicitly: what the caller did not commit is delivered again after a restart.
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[ChangeEvent]:
        while True:
            event = await self.next_event()
            if event is not None:
                yield event

    async def next_event(self, timeout_s: float = 1.0) -> ChangeEvent | None:
        """The next change event, or None when nothing arrived within `timeout_s` (for loops with a deadline)."""
        while True:
            if not self._buffer:
                await self._fetch(timeout_s)
                if not self._buffer:
                    return None
            record = self._buffer.popleft()
            self._handed[TopicPartition(record.topic, record.partition)] = record.offset + 1
            event = self._decode(record)
            if event is not None:
                self.delivered += 1
                return event

    async def _fetch(self, timeout_s: float) -> None:
        try:
            batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=self._max_records)
        except KafkaError as exc:
            raise KafkaUnavailable(f"change stream fetch failed: {exc}") from exc
        for records in batches.values():
            self._buffer.extend(records)

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> ChangeEvent | None:
        try:
            event = decode_change_record(record.key, record.value, list(record.headers))
        except EventError as exc:
            where = f"{record.topic}[{record.partition}]@{record.offset}"
            log.warning("skipping record %s: not a change event (%s)", where, exc.message)
            self._count(record.topic, "malformed")
            return None
        if event.is_echo and not self._include_echoes:
            self._count(record.topic, "echo")
            return None
        if self._metrics is not None:
            self._metrics.events.labels(topic=record.topic, outcome="consumed").inc()
        return event

    def _count(self, topic: str, reason: str) -> None:
        self.skipped[reason] += 1
        if self._metrics is not None:
            self._metrics.events.labels(topic=topic, outcome="skipped").inc()

    async def commit(self) -> None:
        """Commit the offsets of every event handed out so far (and of the records skipped before them)."""
        if not self._handed:
            return
        offsets, self._handed = self._handed, {}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            raise CommitFailed(f"commit refused after a rebalance: {exc}") from exc
        except KafkaError as exc:
            self._handed = offsets | self._handed  # keep them: the next commit tries again
            raise KafkaUnavailable(f"commit failed: {exc}") from exc

    async def commit_quietly(self) -> None:
        """Commit, logging instead of raising (used while partitions are being revoked)."""
        try:
            await self.commit()
        except BridgeError as exc:
            log.warning("change stream: commit before revocation failed: %s", exc.message)

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Drop positions and buffered records of partitions this member no longer owns."""
        self._handed = {tp: o for tp, o in self._handed.items() if tp not in revoked}
        self._buffer = deque(r for r in self._buffer if TopicPartition(r.topic, r.partition) not in revoked)
