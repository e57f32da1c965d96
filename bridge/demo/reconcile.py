"""Compare what was published with what was read back: lost, duplicated and altered events, by id."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.events.envelope import CloudEvent


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The accounting of a round trip. `ok` when every event came back once, unchanged."""

    published: int
    read_back: int
    lost: tuple[str, ...]
    duplicated: tuple[str, ...]
    altered: tuple[str, ...]
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, altered or unexpected."""
        return not (self.lost or self.duplicated or self.altered or self.unexpected)


def reconcile(sent: Iterable[CloudEvent], received: Iterable[CloudEvent]) -> Reconciliation:
    """Match events by id; an event is altered when its type, source or data differ from what was sent."""
    expected = {event.id: event for event in sent}
    counts: collections.Counter[str] = collections.Counter()
    altered: list[str] = []
    for event in received:
        counts[event.id] += 1
        original = expected.get(event.id)
        if original is not None and counts[event.id] == 1 and not _same(original, event):
            altered.append(event.id)
    return Reconciliation(
        published=len(expected),
        read_back=sum(counts.values()),
        lost=tuple(sorted(set(expected) - set(counts))),
        duplicated=tuple(sorted(event_id for event_id, n in counts.items() if n > 1)),
        altered=tuple(altered),
        unexpected=tuple(sorted(set(counts) - set(expected))),
    )


def _same(sent: CloudEvent, received: CloudEvent) -> bool:
    return (sent.type, sent.source, sent.time, sent.data) == (
        received.type,
        received.source,
        received.time,
        received.data,
    )
