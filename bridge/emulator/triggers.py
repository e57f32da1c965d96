"""Apex triggers as the org profile describes them: CPU time per record, bypass by custom setting, side effects.

Triggers of one sObject and event fire in profile order for all the rows of a DML chunk. Each adds its CPU cost
per row to the transaction; past 10,000 ms the transaction fails with the Apex CPU error. Side effects run
nested DML (a roll-up onto the parent Account fires the Account's triggers), one level deeper each time; past
depth 16 the transaction fails. Non-essential triggers skip when the running user's hierarchy setting sets
`All__c` or the trigger's own flag, as `Integration_Bypass__c.getInstance()` would read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bridge.emulator.profile import SideEffect, TriggerSpec
from bridge.emulator.results import SaveError
from bridge.emulator.store import Record, RecordStore
from bridge.emulator.transaction import CPU_LIMIT_MS, MAX_TRIGGER_DEPTH, Transaction
from bridge.errors import BridgeError

Rows = Sequence[tuple[Record | None, Record]]
NestedUpdate = Callable[[Transaction, str, list[Record]], None]


class TriggerFailure(BridgeError):
    """An uncatchable exception in a trigger: the whole transaction rolls back."""

    def __init__(self, trigger: str, event: str, cause: str) -> None:
        super().__init__(f"{trigger}: {cause}")
        self.trigger = trigger
        self.event = event
        self.cause = cause

    def error(self) -> SaveError:
        """CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, as the API reports a trigger failure."""
        event = "".join(part.capitalize() for part in self.event.split())
        message = f"{self.trigger}: execution of {event}\n\ncaused by: {self.cause}\n\n(System Code)"
        return SaveError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", message)


def is_bypassed(trigger: TriggerSpec, bypass: Mapping[str, Any]) -> bool:
    """Whether the running user's merged bypass setting skips this trigger."""
    if trigger.essential:
        return False
    return bool(bypass.get("All__c")) or bool(trigger.bypass_flag and bypass.get(trigger.bypass_flag))


class Triggers:
    """The org's triggers by (sObject, event), and how they spend CPU and cascade."""

    def __init__(self, triggers: Iterable[TriggerSpec], store: RecordStore) -> None:
        self._by_event: dict[tuple[str, str], list[TriggerSpec]] = {}
        for trigger in triggers:
            for event in trigger.events:
                self._by_event.setdefault((trigger.sobject, event), []).append(trigger)
        self._store = store

    def fire(
        self,
        tx: Transaction,
        sobject: str,
        event: str,
        rows: Rows,
        *,
        bypass: Mapping[str, Any],
        nested_update: NestedUpdate,
    ) -> None:
        """Run the triggers of `sobject` for `event` (`before insert`, `after update`, ...) over `rows`."""
        for trigger in self._by_event.get((sobject, event), ()):
            if is_bypassed(trigger, bypass):
                continue
            tx.cpu_ms += trigger.cpu_ms_per_record * len(rows)
            if tx.cpu_ms > CPU_LIMIT_MS:
                raise TriggerFailure(trigger.name, event, "System.LimitException: Apex CPU time limit exceeded")
            if event.startswith("after"):
                for effect in trigger.side_effects:
                    self._side_effect(
                        tx, trigger, event, sobject, effect=effect, rows=rows, nested_update=nested_update
                    )

    def _side_effect(
        self,
        tx: Transaction,
        trigger: TriggerSpec,
        event: str,
        sobject: str,
        *,
        effect: SideEffect,
        rows: Rows,
        nested_update: NestedUpdate,
    ) -> None:
        if tx.depth + 1 > MAX_TRIGGER_DEPTH:
            raise TriggerFailure(trigger.name, event, "maximum trigger depth exceeded")
        if effect.kind == "touch_self":
            updates = [{"Id": after["Id"]} for _, after in rows]
            target = sobject
        elif effect.kind == "rollup":
            updates = self._rollup(sobject, effect, rows)
            target = effect.parent
        else:
            return
        if updates:
            tx.depth += 1
            try:
                nested_update(tx, target, updates)
            finally:
                tx.depth -= 1

    def _rollup(self, sobject: str, effect: SideEffect, rows: Rows) -> list[Record]:
        parents: set[str] = set()
        for before, after in rows:
            for row in (before, after):
                if row is not None and row.get(effect.lookup_field):
                    parents.add(row[effect.lookup_field])
        updates = []
        for parent_id in sorted(parents):
            if self._store.get(effect.parent, parent_id) is None:
                continue
            children = (self._store.get(sobject, i) for i in self._store.find(sobject, effect.lookup_field, parent_id))
            total = sum(float(c.get(effect.source_field) or 0) for c in children if c is not None)
            updates.append({"Id": parent_id, effect.parent_field: total})
        return updates
