"""The sink's partitions: one offset tracker each, commits under invariant 2, lag, and this worker's share.

partitions.assign(consumer.assignment())      # after a rebalance: fresh trackers, the governor's new share
partitions.track(item)                        # when read
partitions.settle(item)                       # when its result or dead letter is acknowledged
await partitions.commit()                     # commits every partition as far as its tracker allows
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from bridge.governor import GovernorGate
from bridge.metrics import Metrics
from bridge.sink.items import WriteItem
from bridge.sink.offsets import OffsetTracker

_log = logging.getLogger(__name__)


class Partitions:
    """Trackers of the partitions assigned to this worker."""

    def __init__(
        self, consumer: AIOKafkaConsumer, gate: GovernorGate, metrics: Metrics, group_id: str, topics: Sequence[str]
    ) -> None:
        self._consumer = consumer
        self._gate = gate
        self._metrics = metrics
        self._group_id = group_id
        self._topics = tuple(topics)
        self._trackers: dict[TopicPartition, OffsetTracker] = {}

    def __repr__(self) -> str:
        return f"Partitions({sorted(self._trackers)!r})"

    @property
    def assigned(self) -> list[TopicPartition]:
        """The partitions this worker owns now."""
        return list(self._trackers)

    def owns(self, item: WriteItem) -> bool:
        """Whether `item`'s partition is still assigned here."""
        return TopicPartition(item.topic, item.partition) in self._trackers

    def track(self, item: WriteItem) -> bool:
        """A record was read; False when it is a re-delivery to ignore."""
        return self.track_offset(item.topic, item.partition, item.offset)

    def settle(self, item: WriteItem) -> None:
        """The record's outcome is durable."""
        self.settle_offset(item.topic, item.partition, item.offset)

    def track_offset(self, topic: str, partition: int, offset: int) -> bool:
        """Like `track`, for a record that never became a `WriteItem` (an undecodable one)."""
        tracker = self._trackers.get(TopicPartition(topic, partition))
        return tracker is not None and tracker.track(offset)

    def settle_offset(self, topic: str, partition: int, offset: int) -> None:
        """Like `settle`, by position."""
        tracker = self._trackers.get(TopicPartition(topic, partition))
        if tracker is not None:
            tracker.settle(offset)

    def assign(self, assigned: Iterable[TopicPartition]) -> None:
        """The partitions after a rebalance; the governor's share follows them."""
        assigned = set(assigned)
        self._trackers = {tp: self._trackers.get(tp) or OffsetTracker() for tp in assigned}
        total = sum(len(self._consumer.partitions_for_topic(topic) or ()) for topic in self._topics)
        share = len(assigned) / total if total else 0.0
        self._gate.set_share(min(1.0, share))

    def revoke(self, revoked: Iterable[TopicPartition]) -> None:
        """The partitions taken away (after their last commit)."""
        for tp in revoked:
            self._trackers.pop(tp, None)

    async def commit(self) -> None:
        """Commit each partition up to its committable offset (a failed commit is retried next time)."""
        offsets = {
            tp: offset for tp, tracker in self._trackers.items() if (offset := tracker.committable()) is not None
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance is under way: the next owner redoes the tail (invariant 3)
            _log.warning("commit of %s failed: %r", offsets, exc)
            return
        for tp, offset in offsets.items():
            tracker = self._trackers.get(tp)  # the assignment may have changed during the await
            if tracker is not None:
                tracker.committed(offset)
                self._lag(tp, offset)

    def _lag(self, tp: TopicPartition, committed: int) -> None:
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            labels = {"group": self._group_id, "topic": tp.topic, "partition": str(tp.partition)}
            self._metrics.consumer_lag.labels(**labels).set(max(0, highwater - committed))
