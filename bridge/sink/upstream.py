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
once and the timers (`parent_wait_s`) alone apply; a group that exists but has committed nothing yet (it is
starting) holds every generation, since its backlog is still to come.

    probe = UpstreamProbe(admin, offsets_consumer, group_id="crm-bridge-processor", topics=("domain.erp.customer",))
    passed = watermarks.advance(await probe.committed())      # after watermarks.snapshot(await probe.ends())
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
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
        """The processor group's committed offsets: empty while a group that exists has committed nothing yet
        (it is starting: what it will make of its backlog is still to come), None when there is no such group."""
        try:
            offsets = await self._admin.list_consumer_group_offsets(self._group_id)
            committed = {
                tp: meta.offset for tp, meta in offsets.items() if tp.topic in self._topics and meta.offset >= 0
            }
            if committed:
                return committed
            groups = await self._admin.list_consumer_groups()
        except (KafkaError, OSError) as exc:
            _log.debug("offsets of group %s unavailable: %r", self._group_id, exc)
            return None
        return {} if any(group_id == self._group_id for group_id, *_ in groups) else None

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int] | None:
        """End offsets of `partitions` (the write topics this worker reads), or None on a failure."""
        if not partitions:
            return {}
        try:
            return dict(await self._consumer.end_offsets(list(partitions)))
        except (KafkaError, OSError) as exc:
            _log.debug("write-topic end offsets unavailable: %r", exc)
            return None


PROBE_INTERVAL_S = 0.5  # how often the processor's progress is read (two small requests)


class UpstreamGate:
    """One worker's view of the processor's progress: the generation a record read now gets, and the newest
    generation released (passed upstream, and read here as far as the write partitions reached then).

        gate = UpstreamGate(probe)                      # None: nothing upstream, everything released at once
        item.upstream_generation = gate.next_generation
        task = asyncio.create_task(gate.watch(lambda: consumer.assignment()))
        if await gate.release(consumer, assigned): ...  # gate.released grew
    """

    def __init__(self, probe: UpstreamProbe | None) -> None:
        self._probe = probe
        self._marks = Watermarks()
        self._releases: list[tuple[int, dict[TopicPartition, int]]] = []  # passed, not read up to here yet
        self.released = 0 if probe is not None else 2**62

    def __repr__(self) -> str:
        return f"UpstreamGate(released={self.released}, next={self.next_generation}, probe={self._probe!r})"

    @property
    def next_generation(self) -> int:
        """The generation of records read now."""
        return self._marks.next_generation

    async def watch(self, assigned: Callable[[], Collection[TopicPartition]]) -> None:
        """Forever: snapshot the processor's source topics and notice when its group has committed past one."""
        probe = self._probe
        if probe is None:
            return
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            ends = await probe.ends()
            committed = await probe.committed() if ends is not None else None
            if ends is None or committed is None:
                # No source topics, or no processor group: nothing upstream to wait for.
                passed: int | None = self._marks.pass_all()
            else:
                self._marks.snapshot(ends)
                passed = self._marks.advance(committed)
            if passed is None or passed <= self.released:
                continue
            write_ends = await probe.end_offsets(list(assigned()))
            if write_ends is not None:
                self._releases.append((passed, write_ends))

    async def release(self, consumer: AIOKafkaConsumer, assigned: Collection[TopicPartition]) -> bool:
        """Release every passed generation this worker has read its partitions up to; True if one was."""
        released = False
        while self._releases:
            generation, ends = self._releases[0]
            for tp, end in ends.items():
                if tp in assigned and await consumer.position(tp) < end:
                    return released
            self._releases.pop(0)
            self.released = max(self.released, generation)
            released = True
        return released
