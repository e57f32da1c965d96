"""A database transaction of the emulated org: applied writes with an undo log, row locks, Apex CPU and depth.

Writes go straight to the store and are undone on rollback; change events are published only at commit.
Row locks (`bridge.emulator.locks`) outlive the synchronous save for as long as the request keeps the
transaction "running" (its simulated latency); a concurrent transaction touching the same rows waits for them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator.store import Record, RecordStore

CPU_LIMIT_MS = 10_000.0
MAX_TRIGGER_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Change:
    """One committed row change, for the change feed."""

    sobject: str
    change_type: str
    record_id: str
    changed_fields: tuple[str, ...]
    values: dict[str, Any]


_keys = itertools.count(1)


@dataclass
class Transaction:
    """The undo log, changes, Apex CPU spent, trigger depth and locked rows of one transaction."""

    store: RecordStore
    key: str = field(default_factory=lambda: f"{next(_keys):08x}-emulated-tx")
    undo: list[tuple[str, str, Record | None]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    cpu_ms: float = 0.0
    depth: int = 0
    locked: set[str] = field(default_factory=set)
    records: int = 0

    def put(self, sobject: str, record: Record, change: Change | None) -> None:
        """Write a record; `change` is what the change feed will say about it."""
        before = self.store.put(sobject, record)
        self.undo.append((sobject, record["Id"], before))
        if change is not None:
            self.changes.append(change)
        self.records += 1

    def savepoint(self) -> tuple[int, int]:
        """A point to roll back to (for the part of a partial-success save that failed)."""
        return len(self.undo), len(self.changes)

    def rollback(self, savepoint: tuple[int, int] = (0, 0)) -> None:
        """Undo every write after `savepoint` (all of them by default)."""
        undo_at, changes_at = savepoint
        while len(self.undo) > undo_at:
            sobject, record_id, before = self.undo.pop()
            self.store.restore(sobject, record_id, before)
        del self.changes[changes_at:]
