"""The sink's pending writes and how they become batches. Pure: time comes in as `now_s`.

Rules, in the order they apply when a batch is formed:
- real-time before bulk; within a lane, SObjects without parent references (parents) before the others;
- a record whose key is in a batch in flight, or whose earlier write is still waiting for a retry, waits:
  one batch never holds an external ID twice and the writes of one key keep their order;
- a child whose parent is pending here (queued or in flight) is held, without spending calls or attempts, and
  released into the next batch the moment the parent's outcome is known (`written`, `refuse`); a child whose
  parent is refused is taken out for the dead-letter topic at once (`refuse`, `refused_parent`); a child of an
  unknown parent goes, in a batch of such children only, and only a `parent_not_found` from the CRM makes it
  wait (`parent_waits`, batched apart again), until the parent shows up here or `parent_wait_s` runs out;
- a delete and an upsert of one key (in different groups) go in the order they were read; a delete of a parent
  waits for its children read before it (they are written, then deleted with it where Salesforce cascades), and
  does not hold the children read after it: those wait for its outcome, and once it is deleted they are refused
  (`parent_deleted`), as children of a refused parent are;
- children of a parent that has children in a batch in flight wait for that batch (their roll-up triggers would
  lock the parent row from two transactions: UNABLE_TO_LOCK_ROW rolls back a whole batch);
- a bulk-lane group sends a partial batch only when no record has joined it for `batch_linger_s`, or its first
  record has waited `batch_max_linger_s`, or the queue must be flushed: batches stay full while records flow;
- a bulk-lane group goes as one Bulk API 2.0 job when it has `bulk_threshold_records` pending, or when the API
  budget is scarce (see `Budget`) and it has enough records for a job to cost fewer calls than Collections;
  after an Apex CPU error its SObject goes by Collections in smaller batches until the batch size has grown back.
Batch sizes per SObject halve after `Apex CPU time limit exceeded` (floor 1) and grow back slowly. A batch is
formed from the first `max(LOOKAHEAD_MIN, 4 * limit)` records of a group, so forming one stays cheap however
many records are pending.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from bridge.config import SinkSettings
from bridge.sink.items import DELETE_MAX_IDS, Batch, WriteItem, WritePath
from bridge.sink.parents import ParentBook, ParentRefusal
from bridge.sink.sizing import BatchSizer, Budget, PathPolicy
from bridge.types import Lane, Operation

BULK_LINGER_S = 5.0  # a job costs the same calls whatever its size: waiting a little for a bigger one pays
LOOKAHEAD_MIN = 2_000  # records of a group examined per batch at least (see `_choose`)
MAX_GENERATION = 2**62  # "every upstream generation is released": nothing to wait for upstream
_GroupKey = tuple[Lane, str, str, Operation]

# A batch holds records of one kind only, so that a child that fails for a missing parent (and rolls back its
# all-or-nothing batch) takes down only records that ran the same risk.
_SAFE, _UNKNOWN_PARENT, _PARENT_WAS_MISSING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Round:
    """What one `take` knows besides the queue."""

    now_s: float
    flush: bool
    backlog: int
    budget: Budget
    released: int


_ANY_BUDGET = Budget()


@dataclass(slots=True)
class WriteQueue:
    """Pending writes grouped by (lane, SObject, external ID field), in arrival order, and what this worker
    knows of their parents (`parents`)."""

    settings: SinkSettings
    sizer: BatchSizer = field(init=False)
    paths: PathPolicy = field(init=False)
    parents: ParentBook = field(default_factory=ParentBook)
    _groups: dict[_GroupKey, list[WriteItem]] = field(default_factory=dict)
    _pending_keys: Counter[str] = field(default_factory=Counter)
    _pending_deletes: Counter[str] = field(default_factory=Counter)
    _busy_keys: Counter[str] = field(default_factory=Counter)
    _busy_parents: Counter[str] = field(default_factory=Counter)
    _children: dict[str, list[WriteItem]] = field(default_factory=dict)  # queued children by parent key
    _partial_since_s: dict[tuple[_GroupKey, int], float] = field(default_factory=dict)
    _last_join_s: dict[_GroupKey, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sizer = BatchSizer(self.settings.batch_size)
        self.paths = PathPolicy(self.settings, self.sizer)

    def __len__(self) -> int:
        return sum(len(items) for items in self._groups.values())

    def lane_size(self, lane: Lane) -> int:
        """Pending records of `lane`."""
        return sum(len(items) for (group_lane, *_), items in self._groups.items() if group_lane is lane)

    # -- records in and out -----------------------------------------------------------------------------------

    def add(self, item: WriteItem) -> None:
        """A new record, after everything already pending; a refusal of its key is forgotten (it is pending)."""
        group_key = self._group_key(item)
        self._groups.setdefault(group_key, []).append(item)
        self._last_join_s[group_key] = max(self._last_join_s.get(group_key, 0.0), item.read_at_s)
        self._queued(item)
        self.parents.forget(item.record_key)

    def put_back(self, items: Iterable[WriteItem]) -> None:
        """Records of a batch that must be sent again: ahead of the later writes of their keys."""
        for item in sorted(items, key=lambda i: i.offset, reverse=True):
            self._groups.setdefault(self._group_key(item), []).insert(0, item)
            self._queued(item)

    def done(self, batch: Batch) -> None:
        """A batch taken with `take` has ended; its keys are free again."""
        self._busy_keys.subtract(item.record_key for item in batch.items)
        self._busy_keys += Counter()  # drop zero counts
        self._busy_parents.subtract(key for item in batch.items for key in set(item.parent_keys))
        self._busy_parents += Counter()

    def drop(self, predicate: Callable[[WriteItem], bool]) -> list[WriteItem]:
        """Remove and return the pending items for which `predicate(item)` is true (revoked partitions)."""
        dropped = [item for items in self._groups.values() for item in items if predicate(item)]
        self._remove(dropped)
        return dropped

    # -- what parents became ----------------------------------------------------------------------------------

    def written(self, keys: Iterable[str], now_s: float) -> None:
        """Records Salesforce accepted: children that failed for want of them may go at once."""
        for key in keys:
            self.parents.written(key, now_s)
            for child in self._children.get(key, ()):
                if child.parent_waits:
                    child.not_before_s = min(child.not_before_s, now_s)

    def refuse(self, refusal: ParentRefusal, now_s: float) -> list[WriteItem]:
        """A parent the bridge never wrote was refused: remove and return its queued children (for the DLQ)."""
        self.parents.refused(refusal, now_s)
        children = list(self._children.get(refusal.key, ()))
        self._remove(children)
        return children

    def refused_parent(self, item: WriteItem, now_s: float) -> ParentRefusal | None:
        """The refusal of one of `item`'s parents, if one was refused (the item must not be sent then)."""
        for key in item.parent_keys:
            if (refusal := self.parents.refusal(key, now_s)) is not None:
                return refusal
        return None

    def held_children(self) -> tuple[int, float | None]:
        """Queued children held for a parent (pending here, or missing in the CRM): how many, and when the oldest
        was read."""
        held = [
            child
            for key, children in self._children.items()
            for child in children
            if child.parent_waits or self._pending_keys[key] > 0 or self._busy_keys[key] > 0
        ]
        return len(held), min((child.read_at_s for child in held), default=None)

    # -- forming batches --------------------------------------------------------------------------------------

    def take(
        self,
        now_s: float,
        *,
        flush: bool = False,
        lanes: Collection[Lane] = tuple(Lane),
        backlog: int = 0,
        budget: Budget = _ANY_BUDGET,
        released: int = MAX_GENERATION,
    ) -> Batch | None:
        """The next batch of one of `lanes` to send, or None when nothing may go now. `backlog`: bulk-lane
        records not read yet; with the pending ones and the `budget` they decide whether a Bulk API job pays.
        `released`: the newest upstream generation released (`bridge.sink.upstream`): a bulk-lane child of an
        unknown parent read after it waits, since its parent may still be on its way through the processor."""
        round_ = _Round(now_s, flush, backlog, budget, released)
        for group_key in sorted(self._groups, key=self._group_order):
            if group_key[0] not in lanes:
                continue
            batch = self._take_from(group_key, round_)
            if batch is not None:
                return batch
        return None

    def _take_from(self, group_key: _GroupKey, round_: _Round) -> Batch | None:
        items = self._groups[group_key]
        if not items:
            return None
        lane, sobject, _, operation = group_key
        now_s, flush, budget = round_.now_s, round_.flush, round_.budget
        visible = len(items) + (0 if flush else round_.backlog)
        path, limit = self.paths.path_and_limit(lane, sobject, visible, budget)
        if operation is Operation.DELETE:
            path, limit = WritePath.DELETE, min(DELETE_MAX_IDS, self.settings.batch_size)
        if path is WritePath.BULK and not flush and round_.backlog >= self.settings.batch_size:
            return None  # a job costs the same calls whatever its size: let the backlog be read into it first
        # A job has no all-or-nothing rollback: every kind of record may share it.
        by_kind, held_back = self._choose(items, limit, now_s, round_.released, mixed=path is WritePath.BULK)
        for kind, chosen in sorted(by_kind.items()):
            if self._ready((group_key, kind), path, len(chosen), limit, now_s, flush=flush, held_back=held_back):
                self._partial_since_s.pop((group_key, kind), None)
                return self._batch(group_key, path, chosen, self.paths.min_job_records(visible, budget))
        return None

    def _batch(self, group_key: _GroupKey, path: WritePath, chosen: list[WriteItem], min_job: int) -> Batch:
        lane, sobject, external_id_field, _ = group_key
        if path is WritePath.BULK and len(chosen) < min_job:
            path = WritePath.COLLECTIONS  # too many were held back for a job to pay off
            chosen = chosen[: self.sizer.size(sobject)]
        self._remove(chosen)
        for item in chosen:
            self._busy_keys[item.record_key] += 1
            self._busy_parents.update(set(item.parent_keys))
        return Batch(lane, sobject, external_id_field, path, tuple(chosen))

    def _ready(
        self,
        at: tuple[_GroupKey, int],
        path: WritePath,
        chosen: int,
        limit: int,
        now_s: float,
        *,
        flush: bool,
        held_back: bool,
    ) -> bool:
        """A full batch goes; a partial one while records still join the group or children are held back for
        parents in flight waits (`batch_linger_s` of quiet, `batch_max_linger_s` at most; a job `BULK_LINGER_S`
        at least), unless nothing more can come. A partial batch of children that risk a missing parent waits the
        whole `batch_max_linger_s`: one such batch that fails costs a call, however many it holds."""
        group_key, kind = at
        if chosen >= limit or group_key[0] is Lane.REALTIME or (flush and not held_back):
            return True
        since_s = self._partial_since_s.setdefault(at, now_s)
        if path is WritePath.BULK:
            return now_s - since_s >= max(self.settings.batch_max_linger_s, BULK_LINGER_S)
        if now_s - since_s >= self.settings.batch_max_linger_s:
            return True
        quiet_s = now_s - self._last_join_s.get(group_key, 0.0)
        return kind == _SAFE and not held_back and quiet_s >= self.settings.batch_linger_s

    def _choose(
        self, items: list[WriteItem], limit: int, now_s: float, released: int, *, mixed: bool
    ) -> tuple[dict[int, list[WriteItem]], bool]:
        """Eligible records by kind (each up to `limit`; `mixed`: all of one kind), and whether any record was
        held back (it may become eligible soon)."""
        by_kind: dict[int, list[WriteItem]] = {}
        held: set[str] = set()
        held_back = False
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
            if (
                self._busy_keys[key] > 0
                or item.not_before_s > now_s
                or self._behind_other_write(item)
                or self._waits_for_parent(item, now_s, released)
            ):
                held_back = True
                continue
            chosen = by_kind.setdefault(_SAFE if mixed else self._kind(item, now_s), [])
            chosen.append(item)
            if len(chosen) >= limit:
                break
        return by_kind, held_back

    def _behind_other_write(self, item: WriteItem) -> bool:
        """A delete and an upsert of one key sit in different groups: the one read first goes first; a delete
        also waits for the children read before it."""
        key = item.record_key
        if item.record.is_delete and (
            self._busy_parents[key] > 0 or any(_order(c) < _order(item) for c in self._children.get(key, ()))
        ):
            return True
        if not self._pending_deletes[key]:
            return False
        return any(other is not item and _order(other) < _order(item) for other in self._pending_of(key))

    def _pending_of(self, key: str) -> list[WriteItem]:
        sobject = key.partition(":")[0]
        return [i for (_, s, *_), items in self._groups.items() if s == sobject for i in items if i.record_key == key]

    def _held_by(self, parent: str, child: WriteItem) -> bool:
        """Whether a pending or in-flight parent holds `child`: not when all it has pending is deletes read after
        the child (the delete waits for the child instead)."""
        if self._busy_keys[parent] > 0:
            return True
        if self._pending_keys[parent] == 0:
            return False
        if not self._pending_deletes[parent]:
            return True
        return not all(p.record.is_delete and _order(p) > _order(child) for p in self._pending_of(parent))

    def _waits_for_parent(self, item: WriteItem, now_s: float, released: int) -> bool:
        parents = item.parent_keys
        for parent in parents:
            if self._held_by(parent, item):
                return True  # the parent goes first; its outcome releases the child
            if self._busy_parents[parent] > 0:
                return True  # a sibling in a batch in flight holds the parent row's lock
        if (
            not parents
            or item.parent_waits
            or item.upstream_generation <= released
            or item.record.lane is Lane.REALTIME
        ):
            return False
        # An unknown parent may still be in the processor's backlog: wait until what was published before this
        # child was read has been processed and read here (bounded, should the upstream never say so).
        unknown = any(not self.parents.is_written(parent, now_s) for parent in parents)
        return unknown and now_s - item.read_at_s < self.settings.parent_wait_s

    def missing_parents(self, released: int, now_s: float) -> list[WriteItem]:
        """Remove and return children the CRM refused for a missing parent that is nowhere in the bridge: the
        upstream generation after their failure is released, and the parent (the one they share a partition
        with, so this worker would have seen it) is neither pending nor written here."""
        gone: list[WriteItem] = []
        for key, children in self._children.items():
            if self._pending_keys[key] > 0 or self._busy_keys[key] > 0 or self.parents.is_written(key, now_s):
                continue
            gone.extend(
                child
                for child in children
                if child.parent_waits and 0 < child.missing_generation <= released and child.route == key
            )
        self._remove(gone)
        return gone

    def _kind(self, item: WriteItem, now_s: float) -> int:
        if item.parent_waits:
            return _PARENT_WAS_MISSING
        if all(self.parents.is_written(parent, now_s) for parent in item.parent_keys):
            return _SAFE
        return _UNKNOWN_PARENT

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _group_key(self, item: WriteItem) -> _GroupKey:
        record = item.record
        operation = Operation.DELETE if record.is_delete else Operation.UPSERT
        return (record.lane, record.sobject, record.external_id_field, operation)

    def _group_order(self, group_key: _GroupKey) -> tuple[int, int, str]:
        lane, sobject, *_ = group_key
        items = self._groups[group_key]
        is_child = int(bool(items) and bool(items[0].parent_keys))
        return (0 if lane is Lane.REALTIME else 1, is_child, sobject)

    def _queued(self, item: WriteItem) -> None:
        self._pending_keys[item.record_key] += 1
        self._pending_deletes[item.record_key] += item.record.is_delete
        for parent in item.parent_keys:
            self._children.setdefault(parent, []).append(item)

    def _remove(self, items: Collection[WriteItem]) -> None:
        """Take `items` out of their groups and the indexes (they go into a batch, or away)."""
        if not items:
            return
        gone = {id(item) for item in items}
        for group_key in {self._group_key(item) for item in items}:
            self._groups[group_key] = [item for item in self._groups[group_key] if id(item) not in gone]
        for item in items:
            self._pending_keys[item.record_key] -= 1
            self._pending_deletes[item.record_key] -= item.record.is_delete
            for parent in item.parent_keys:
                siblings = [child for child in self._children.get(parent, ()) if id(child) not in gone]
                if siblings:
                    self._children[parent] = siblings
                else:
                    self._children.pop(parent, None)
        self._pending_keys += Counter()
        self._pending_deletes += Counter()


def _order(item: WriteItem) -> tuple[float, int]:
    """The order two writes of related keys were read in (they share a partition: their route)."""
    return (item.read_at_s, item.offset)
