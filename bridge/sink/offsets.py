"""Which offset a partition may commit: the one place that makes invariant 2 (checkpoint = offset commit) true.

A record's offset is `track`ed when it is read and `settle`d when its outcome is durable (Salesforce accepted
it and the result was acknowledged, or the dead letter was acknowledged). The committable offset is the
lowest offset still unsettled (Kafka commits "the next offset to read"), or one past the highest settled
offset when none is pending. Outcomes may settle in any order; gaps in the offsets (compacted or transaction
markers) do not matter because only tracked offsets hold the commit back.

    tracker = OffsetTracker()
    for offset in (5, 6, 7): tracker.track(offset)
    tracker.settle(7); tracker.committable()   # None: 5 and 6 are not durable yet
    tracker.settle(5); tracker.committable()   # 6
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(slots=True)
class OffsetTracker:
    """The read-but-unsettled offsets of one partition."""

    _pending: set[int] = field(default_factory=set)
    _heap: list[int] = field(default_factory=list)
    _highest_settled: int | None = None
    _floor: int | None = None  # everything below is durable: the first offset read, or the last commit

    def __repr__(self) -> str:
        return f"OffsetTracker(pending={len(self._pending)}, committable={self.committable()})"

    @property
    def pending(self) -> int:
        """How many tracked offsets are not settled yet."""
        return len(self._pending)

    def track(self, offset: int) -> bool:
        """A record at `offset` was read; False for a re-delivery (already tracked, or below the last commit)."""
        if self._floor is None:
            self._floor = offset
        if offset in self._pending or offset < self._floor:
            return False
        if self._highest_settled is not None and offset <= self._highest_settled:
            return False
        self._pending.add(offset)
        heapq.heappush(self._heap, offset)
        return True

    def settle(self, offset: int) -> None:
        """The outcome of the record at `offset` is durable."""
        if offset not in self._pending:
            return
        self._pending.discard(offset)
        if self._highest_settled is None or offset > self._highest_settled:
            self._highest_settled = offset
        while self._heap and self._heap[0] not in self._pending:
            heapq.heappop(self._heap)

    def committable(self) -> int | None:
        """The offset to commit now (the next one to read), or None when the commit would not move."""
        if self._heap:
            candidate = self._heap[0]
        elif self._highest_settled is not None:
            candidate = self._highest_settled + 1
        else:
            return None
        if self._floor is not None and candidate <= self._floor:
            return None
        return candidate

    def committed(self, offset: int) -> None:
        """`offset` was committed to Kafka."""
        if self._floor is None or offset > self._floor:
            self._floor = offset
