"""What a sink worker knows of the parents its children reference. Pure: time comes in as `now_s`.

A parent reference (`Account:C-1`) is, for this worker:
- **pending**: a write of it is queued or in flight here (the queue knows: `WriteQueue.is_pending`);
- **written**: Salesforce took a write of it here, recently (`written`);
- **refused**: the bridge refused a record it had never written (the processor's refusal notice, or the CRM's
  refusal of a first write here), with the reason (`refusal`);
- **unknown**: none of these; it may well be in the org already, so its children are sent.

Writes are keyed by their route, the first parent's key, so a parent's writes, its refusal notices and its
children share a partition and one worker sees them in the order they were produced: the state needs no
coordination between workers, and a restarted worker rebuilds it from the uncommitted tail it reads again.
Both memories are bounded (least recently used first out) and expire: a parent refused yesterday and fixed in
the org by a person since should not keep refusing children forever. Per million remembered keys they hold
74 MiB (written: a 64-bit hash per key, and a time shared by every key of the same second) and ~400 MiB
(refused: the reason text too); the defaults keep at most 1,000,000 written and 100,000 refused keys, ~115 MiB
(`benchmarks/parent_memory.py`). Plain dicts keep the order of use (a key used again is moved to the end); the
oldest are dropped in bulk, 5% below the bound, so eviction costs O(1) a key without an ordered dict's links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

WRITTEN_KEYS = 1_000_000
REFUSED_KEYS = 100_000
MEMORY_TTL_S = 24 * 3_600.0


@dataclass(frozen=True, slots=True)
class ParentRefusal:
    """Why a parent is not in the org: the stage that refused it and its reason."""

    key: str
    stage: str
    reason: str
    detail: str = ""


def _digest(key: str) -> int:
    # The process's own 64-bit string hash: the memory lives and dies with the process, lookups happen for every
    # pending child each time a batch is formed, and a collision (about 1 in 10^7 at a million keys) only makes
    # an unknown parent look written, so its child is sent at once (and waits if the CRM lacks the parent).
    return hash(key)


def _bound(memory: dict[Any, Any], limit: int) -> None:
    """Drop the least recently used keys of `memory` once it holds more than `limit`, down to 5% below it."""
    if len(memory) <= limit:
        return
    for key in list(islice(memory, len(memory) - limit + limit // 20)):
        del memory[key]


@dataclass(slots=True)
class ParentBook:
    """The written and refused parents of one worker, bounded and expiring."""

    ttl_s: float = MEMORY_TTL_S
    max_written: int = WRITTEN_KEYS
    max_refused: int = REFUSED_KEYS
    _written: dict[int, float] = field(default_factory=dict)
    _refused: dict[str, tuple[ParentRefusal, float]] = field(default_factory=dict)
    _second: float = -1.0  # the time object shared by the written keys of the current second

    def __len__(self) -> int:
        return len(self._written) + len(self._refused)

    def written(self, key: str, now_s: float) -> None:
        """Salesforce took a write of `key`: it is in the org, whatever was refused before."""
        self._refused.pop(key, None)
        digest = _digest(key)
        if now_s - self._second >= 1.0 or now_s < self._second:
            self._second = float(int(now_s))
        self._written.pop(digest, None)
        self._written[digest] = self._second
        _bound(self._written, self.max_written)

    def refused(self, refusal: ParentRefusal, now_s: float) -> None:
        """A record the bridge never wrote was refused: its children cannot be written."""
        self._written.pop(_digest(refusal.key), None)
        self._refused.pop(refusal.key, None)
        self._refused[refusal.key] = (refusal, now_s)
        _bound(self._refused, self.max_refused)

    def forget(self, key: str) -> None:
        """A new write of `key` was read: it is pending now, and its own outcome will say what it is."""
        self._refused.pop(key, None)

    def is_written(self, key: str, now_s: float) -> bool:
        """Whether Salesforce took a write of `key` here within the memory's lifetime."""
        at_s = self._written.get(_digest(key))
        return at_s is not None and now_s - at_s < self.ttl_s

    def refusal(self, key: str, now_s: float) -> ParentRefusal | None:
        """Why `key` was refused, if it was (and not long ago)."""
        entry = self._refused.get(key)
        if entry is None:
            return None
        refusal, at_s = entry
        if now_s - at_s >= self.ttl_s:
            del self._refused[key]
            return None
        return refusal
