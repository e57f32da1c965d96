"""The sink's pending writes and how they become batches. Pure: time comes in as `now_s`.

Rules, in the order they apply when a batch is formed:
- real-time before bulk; within a lane, SObjects without parent references (parents) before the others;
- a record whose key is in a batch in flight, or whose earlier write is still waiting for a retry, waits:
  one batch never holds an external ID twice and the writes of one key keep their order;
- a record that references a parent still pending or in flight waits for it (the parent is written first);
  a bulk-lane one whose parent this sink has neither queued nor written waits up to `parent_grace_s` after it
  was read for the parent to arrive (in a sync it is usually just behind, on another topic or partition);
- a record waiting for a retry (`not_before_s`) waits, and so do the later writes of its key;
- a bulk-lane group waits up to `batch_linger_s` for a full batch, unless `flush` says nothing more is coming;
- a bulk-lane group with at least `bulk_threshold_records` pending becomes one Bulk API 2.0 job, as large as
  `BULK_JOB_MAX_RECORDS`, waiting up to `BULK_LINGER_S` to grow (unless flushing).
Batch sizes per SObject halve after `Apex CPU time limit exceeded` (floor 1) and grow back slowly.
Records retried because their parent was missing are batched apart from the others. Children of a parent that
has children in a batch in flight wait for that batch (their parent row would be locked by both transactions).
A batch is formed from the first `max(LOOKAHEAD_MIN, 4 * limit)` records of a group, so forming one stays cheap
however many records are pending.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from bridge.config import SinkSettings
from bridge.sink.items import Batch, WriteItem, WritePath, is_platform_event
from bridge.types import Lane

BULK_JOB_MAX_RECORDS = 100_000  # one job's CSV stays far below the 100 MB upload limit at this size
BULK_LINGER_S = 5.0  # a job costs ~8 calls whatever its size: waiting a little for a bigger one pays
LOOKAHEAD_MIN = 2_000  # records of a group examined per batch at least (see `_choose`)
WRITTEN_MEMORY = 200_000  # keys of records this sink wrote, remembered (most recent) to release their children
_GroupKey = tuple[Lane, str, str]


@dataclass(slots=True)
class BatchSizer:
    """Collections batch size per SObject: halved on Apex CPU errors, grown back by an eighth per success."""

    ceiling: int
    _sizes: dict[str, int] = field(default_factory=dict)

    def size(self, sobject: str) -> int:
        """The current batch size for `sobject`."""
        return self._sizes.get(sobject, self.ceiling)

    def shrink(self, sobject: str, failed_size: int) -> None:
        """A batch of `failed_size` ran out of CPU time."""
        self._sizes[sobject] = max(1, min(self.size(sobject), failed_size) // 2)

    def grow(self, sobject: str) -> None:
        """A batch succeeded."""
        size = self.size(sobject)
        if size < self.ceiling:
            self._sizes[sobject] = min(self.ceiling, size + max(1, size // 8))


@dataclass(slots=True)
class WriteQueue:
    """Pending writes grouped by (lane, SObject, external ID field), in arrival order."""

    settings: SinkSettings
    sizer: BatchSizer = field(init=False)
    _groups: dict[_GroupKey, list[WriteItem]] = field(default_factory=dict)
    _pending_keys: Counter[str] = field(default_factory=Counter)
    _busy_keys: Counter[str] = field(default_factory=Counter)
    _busy_parents: Counter[str] = field(default_factory=Counter)
    _partial_since_s: dict[_GroupKey, float] = field(default_factory=dict)
    _written: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.sizer = BatchSizer(self.settings.batch_size)

    def __len__(self) -> int:
        return sum(len(items) for items in self._groups.values())

    def lane_size(self, lane: Lane) -> int:
        """Pending records of `lane`."""
        return sum(len(items) for (group_lane, _, _), items in self._groups.items() if group_lane is lane)

    def add(self, item: WriteItem) -> None:
        """A new record, after everything already pending."""
        self._group(item).append(item)
        self._pending_keys[item.record_key] += 1

    def put_back(self, items: Iterable[WriteItem]) -> None:
        """Records of a batch that must be sent again: ahead of the later writes of their keys."""
        for item in sorted(items, key=lambda i: i.offset, reverse=True):
            self._group(item).insert(0, item)
            self._pending_keys[item.record_key] += 1

    def done(self, batch: Batch) -> None:
        """A batch taken with `take` has ended; its keys are free again."""
        self._busy_keys.subtract(item.record_key for item in batch.items)
        self._busy_keys += Counter()  # drop zero counts
        self._busy_parents.subtract(key for item in batch.items for key in set(item.parent_keys))
        self._busy_parents += Counter()

    def written(self, keys: Iterable[str]) -> None:
        """Records Salesforce accepted: their children need not wait for them any more."""
        for key in keys:
            self._written[key] = None
            self._written.move_to_end(key)
        while len(self._written) > WRITTEN_MEMORY:
            self._written.popitem(last=False)

    def drop(self, predicate: Callable[[WriteItem], bool]) -> list[WriteItem]:
        """Remove and return the pending items for which `predicate(item)` is true (revoked partitions)."""
        dropped: list[WriteItem] = []
        for key, items in self._groups.items():
            keep = [item for item in items if not predicate(item)]
            dropped.extend(item for item in items if predicate(item))
            self._groups[key] = keep
        self._pending_keys.subtract(item.record_key for item in dropped)
        self._pending_keys += Counter()
        return dropped

    def take(
        self, now_s: float, *, flush: bool = False, lanes: Collection[Lane] = tuple(Lane), backlog: int = 0
    ) -> Batch | None:
        """The next batch of one of `lanes` to send, or None when nothing may go now. `backlog`: bulk-lane
        records not read yet; with the pending ones they decide whether a Bulk API job is worth waiting for."""
        for group_key in sorted(self._groups, key=self._group_order):
            if group_key[0] not in lanes:
                continue
            batch = self._take_from(group_key, now_s, flush, backlog)
            if batch is not None:
                return batch
        return None

    def next_due_s(self) -> float | None:
        """The earliest `not_before_s` among waiting records (when to look again), or None."""
        due = [item.not_before_s for items in self._groups.values() for item in items[:1]]
        return min(due) if due else None

    def _group(self, item: WriteItem) -> list[WriteItem]:
        record = item.record
        return self._groups.setdefault((record.lane, record.sobject, record.external_id_field), [])

    def _group_order(self, group_key: _GroupKey) -> tuple[int, int, str]:
        lane, sobject, _ = group_key
        items = self._groups[group_key]
        is_child = int(bool(items) and bool(items[0].parent_keys))
        return (0 if lane is Lane.REALTIME else 1, is_child, sobject)

    def _take_from(self, group_key: _GroupKey, now_s: float, flush: bool, backlog: int) -> Batch | None:
        items = self._groups[group_key]
        if not items:
            return None
        lane, sobject, external_id_field = group_key
        path, limit = self._path_and_limit(lane, sobject, len(items) + (0 if flush else backlog))
        chosen, held_back = self._choose(items, limit, now_s)
        if not chosen:
            return None
        if path is WritePath.BULK and not flush and backlog >= self.settings.batch_size:
            return None  # a job costs the same calls whatever its size: let the backlog be read into it first
        if not self._ready(group_key, path, len(chosen), limit, now_s, flush=flush, held_back=held_back):
            return None
        self._partial_since_s.pop(group_key, None)
        if path is WritePath.BULK and len(chosen) < self.settings.bulk_threshold_records:
            path = WritePath.COLLECTIONS  # too many were held back for a job to pay off
            chosen = chosen[: self.sizer.size(sobject)]
        chosen_ids = {id(item) for item in chosen}
        self._groups[group_key] = [item for item in items if id(item) not in chosen_ids]
        for item in chosen:
            self._pending_keys[item.record_key] -= 1
            self._busy_keys[item.record_key] += 1
            self._busy_parents.update(set(item.parent_keys))
        self._pending_keys += Counter()
        return Batch(lane, sobject, external_id_field, path, tuple(chosen))

    def _path_and_limit(self, lane: Lane, sobject: str, pending: int) -> tuple[WritePath, int]:
        if is_platform_event(sobject):
            return WritePath.EVENTS, 1
        if lane is Lane.BULK and pending >= self.settings.bulk_threshold_records:
            return WritePath.BULK, BULK_JOB_MAX_RECORDS
        return WritePath.COLLECTIONS, self.sizer.size(sobject)

    def _ready(
        self,
        group_key: _GroupKey,
        path: WritePath,
        chosen: int,
        limit: int,
        now_s: float,
        *,
        flush: bool,
        held_back: bool,
    ) -> bool:
        """A full batch goes; a partial one waits up to `batch_linger_s` (a job `BULK_LINGER_S`) for more records
        to become eligible (new ones read, parents written, earlier writes of a key done), unless nothing more
        can come."""
        if chosen >= limit or group_key[0] is Lane.REALTIME or (flush and not held_back):
            return True
        linger_s = self.settings.batch_linger_s
        if path is WritePath.BULK:
            linger_s = max(linger_s, BULK_LINGER_S)
        since_s = self._partial_since_s.setdefault(group_key, now_s)
        return now_s - since_s >= linger_s

    def _choose(self, items: list[WriteItem], limit: int, now_s: float) -> tuple[list[WriteItem], bool]:
        """Up to `limit` eligible records, and whether any record was held back (it may become eligible soon)."""
        chosen: list[WriteItem] = []
        held: set[str] = set()
        held_back = False
        retrying_parent: bool | None = None  # decided by the first record chosen
        # Look at most this far: with tens of thousands pending (children waiting for parents), scanning the whole
        # group for every batch made batch forming quadratic. Records further back wait for the next batches.
        lookahead = max(LOOKAHEAD_MIN, 4 * limit)
        for examined, item in enumerate(items):
            if examined >= lookahead:
                held_back = True
                break
            key = item.record_key
            if key in held:
                continue  # an earlier write of the key goes first, never in the same batch
            held.add(key)
            if self._busy_keys[key] > 0 or item.not_before_s > now_s or self._waits_for_parent(item, now_s):
                held_back = True
                continue
            if any(self._busy_parents[parent] > 0 for parent in item.parent_keys):
                # A sibling in a batch in flight: its triggers (roll-ups) lock the same parent row, and two
                # concurrent transactions on one parent fail with UNABLE_TO_LOCK_ROW, rolling back a whole batch.
                held_back = True
                continue
            # Records whose parent was missing before go in batches of their own: if the parent is still missing,
            # an all-or-nothing batch fails, and it should not take records that were fine down with it.
            if retrying_parent is None:
                retrying_parent = item.parent_waits > 0
            elif retrying_parent != (item.parent_waits > 0):
                continue  # eligible, but for the next batch: waiting would not bring it into this one
            chosen.append(item)
            if len(chosen) >= limit:
                break
        return chosen, held_back

    def _waits_for_parent(self, item: WriteItem, now_s: float) -> bool:
        parents = item.parent_keys
        if any(self._pending_keys[key] > 0 or self._busy_keys[key] > 0 for key in parents):
            return True
        # Unknown parents: sending now would likely fail the child and roll back its all-or-nothing batch.
        if item.parent_waits or item.record.lane is not Lane.BULK or not parents:
            return False
        unknown = any(key not in self._written for key in parents)
        return unknown and now_s - item.read_at_s < self.settings.parent_grace_s
