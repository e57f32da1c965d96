"""How far the processor has got: has everything published before a moment been processed, and read here?

A child whose parent this worker has not seen may be waiting for nothing (the parent is in the org already) or
for a parent that is still in the processor's backlog (a nightly backlog is read topic by topic, so children
often reach the sink before their parents). Instead of a timer, the sink asks Kafka where the processor stands:

1. a **snapshot** is the end offsets of the processor's source topics at one moment (`Watermarks.snapshot`);
   records read here before it was taken get its generation;
2. the generation **passes** once the processor's consumer group has committed past the snapshot on every
   partition: everything published before it has been processed, and the processor commits only after its
   writes, dead letters and refusal notices were acknowledged, so they are all in the write topics;
3. it is **released** once this worker has read its write partitions up to their end offsets as they stood
   when the pass was seen: whatever those events became is now pending, written or refused here.

A child of a still-unknown parent whose generation is released is sent (its parent may be in the org); one
whose parent the CRM did not have is dead-lettered once the generation after its failure is released without
the parent showing up (`sink.parent_wait_drained`), since the parent is then nowhere in the bridge. Without a
processor group to ask (none has committed yet, or the topics cannot be read) every generation is released at
once and the timers (`parent_wait_s`) alone apply.

    probe = UpstreamProbe(admin, offsets_consumer, group_id="crm-bridge-processor", topics=("domain.erp.customer",))
    passed = watermarks.advance(await probe.committed())      # after watermarks.snapshot(await probe.ends())
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

_log = logging.getLogger(__name__)
Offsets = Mapping[TopicPartition, int]
_MAX_SNAPSHOTS = 64


@dataclass(slots=True)
class Watermarks:
    """Generations of upstream snapshots and which have passed. Pure."""

    passed: int = 0
    _next: int = 1
    _snapshots: deque[tuple[int, dict[TopicPartition, int]]] = field(default_factory=deque)

    @property
    def next_generation(self) -> int:
        """The generation of the next snapshot: records read now are covered by it."""
        return self._next

    def snapshot(self, ends: Offsets) -> int:
        """Upstream end offsets taken now; returns their generation."""
        generation = self._next
        self._next += 1
        self._snapshots.append((generation, dict(ends)))
        while len(self._snapshots) > _MAX_SNAPSHOTS:
            # Dropping the oldest is safe: records of its generation are released when a later one passes.
            self._snapshots.popleft()
        return generation

    def pass_all(self) -> int:
        """Nothing upstream to wait for (no processor group): every generation so far, and the one records read
        until now were given, has passed."""
        self._snapshots.clear()
        self.passed = self._next
        self._next += 1
        return self.passed

    def advance(self, committed: Offsets) -> int | None:
        """The newest generation the processor's `committed` offsets pass, if that is a new one."""
        newest = None
        while self._snapshots:
            generation, ends = self._snapshots[0]
            if any(committed.get(tp, 0) < end for tp, end in ends.items()):
                break
            self._snapshots.popleft()
            newest = generation
        if newest is None or newest <= self.passed:
            return None
        self.passed = newest
        return newest


class UpstreamProbe:
    """Reads the processor's source-topic end offsets and its group's committed offsets (two small requests)."""

    def __init__(
        self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, *, group_id: str, topics: Sequence[str]
    ) -> None:
        self._admin = admin
        self._consumer = consumer  # no group: used for ListOffsets only
        self._group_id = group_id
        self._topics = tuple(topics)

    def __repr__(self) -> str:
        return f"UpstreamProbe(group={self._group_id!r}, topics={self._topics!r})"

    async def ends(self) -> dict[TopicPartition, int] | None:
        """End offsets of every partition of the source topics that exist, or None when none can be read."""
        try:
            described = await self._admin.describe_topics(list(self._topics))
            partitions = [
                TopicPartition(d["topic"], p["partition"])
                for d in described
                if d.get("error_code", 0) == 0
                for p in d["partitions"]
            ]
            if not partitions:
                return None
            return dict(await self._consumer.end_offsets(partitions))
        except (KafkaError, OSError) as exc:
            _log.debug("upstream end offsets unavailable: %r", exc)
            return None

    async def committed(self) -> dict[TopicPartition, int] | None:
        """The processor group's committed offsets, or None when the group has committed nothing (yet)."""
        try:
            offsets = await self._admin.list_consumer_group_offsets(self._group_id)
        except (KafkaError, OSError) as exc:
            _log.debug("offsets of group %s unavailable: %r", self._group_id, exc)
            return None
        committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic in self._topics and meta.offset >= 0}
        return committed or None

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int] | None:
        """End offsets of `partitions` (the write topics this worker reads), or None on a failure."""
        if not partitions:
            return {}
        try:
            return dict(await self._consumer.end_offsets(list(partitions)))
        except (KafkaError, OSError) as exc:
            _log.debug("write-topic end offsets unavailable: %r", exc)
            return None
