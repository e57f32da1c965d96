"""The write path every API shares: one DML save of prepared operations with all-or-none or partial success.

Order per save: resolve relationship references, build each record's new state, check required and unique
fields, evaluate validation rules and duplicate rules, take row locks, then apply per contiguous (sObject,
operation) chunk with before triggers, the write, and after triggers (whose side effects cascade). A trigger
failure rolls back the whole save. Change events are published when the transaction commits. Operations are
`insert`, `update`, `delete` (to the Recycle Bin) and `undelete` (back from it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.emulator.duplicates import NO_DUPLICATE_HEADER, DuplicateHeader, DuplicateRules
from bridge.emulator.fields import missing_required
from bridge.emulator.ids import make_id
from bridge.emulator.locks import RowLocks
from bridge.emulator.prepare import Op, Prepared
from bridge.emulator.profile import ObjectSpec, UserSpec
from bridge.emulator.results import SaveError, SaveResult, rolled_back
from bridge.emulator.rules import ValidationRules
from bridge.emulator.store import Record, RecordStore, index_key
from bridge.emulator.transaction import Change, Transaction
from bridge.emulator.triggers import TriggerFailure, Triggers

AUDIT_FIELDS = ("LastModifiedDate", "LastModifiedById", "SystemModstamp")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who writes and through what: the running user, the `Sforce-Call-Options` client and the duplicate header."""

    user: UserSpec
    client: str | None = None
    api: str = "rest"
    version: str = "62.0"
    duplicate_header: DuplicateHeader = NO_DUPLICATE_HEADER

    @property
    def change_origin(self) -> str:
        """`com/salesforce/api/rest/62.0;client=X`, as the change event header carries it."""
        origin = f"com/salesforce/api/{self.api}/{self.version}"
        return f"{origin};client={self.client}" if self.client else origin


@dataclass(frozen=True, slots=True)
class WriteEnv:
    """What the write path reads besides the store: the clock, settings lookup, faults and the commit hook."""

    now_iso: Callable[[], str]
    next_number: Callable[[], int]
    bypass_for: Callable[[UserSpec], Mapping[str, Any]]
    merge_for: Callable[[UserSpec], Mapping[str, Any]]
    lock_fails: Callable[[], bool]
    commit: Callable[[Transaction, Caller], None]


class Writer:
    """Saves prepared operations against the store; see the module docstring for the order of steps."""

    def __init__(
        self,
        store: RecordStore,
        *,
        objects: Mapping[str, ObjectSpec],
        rules: ValidationRules,
        triggers: Triggers,
        locks: RowLocks,
        duplicates: DuplicateRules,
        env: WriteEnv,
    ) -> None:
        self._store = store
        self._objects = objects
        self._rules = rules
        self._triggers = triggers
        self._locks = locks
        self._duplicates = duplicates
        self._env = env
        self._now = env.now_iso()
        self._merge: Mapping[str, Any] | None = None
        self._unique = {name: [f for f in spec.fields.values() if f.unique] for name, spec in objects.items()}

    def save(
        self,
        ops: Sequence[Prepared],
        *,
        all_or_none: bool,
        caller: Caller,
        tx: Transaction | None = None,
        automation: bool = True,
    ) -> tuple[list[SaveResult], Transaction]:
        """Save `ops` in one transaction (or inside `tx`, which the caller commits); per-op results in order.

        `automation=False` is the platform's own DML (a merge reparenting children): no validation rules, no
        duplicate rules, no triggers.
        """
        # One timestamp per save, as a Salesforce transaction stamps all its rows alike.
        self._now = self._env.now_iso()
        self._merge = None
        results = [SaveResult(None, list(op)) if isinstance(op, list) else SaveResult(op.record_id) for op in ops]
        rows: dict[int, tuple[Op, Record | None, Record]] = {}
        seen: dict[tuple[str, str, Any], int] = {}
        for index, op in enumerate(ops):
            if isinstance(op, Op):
                self._stage(index, op, results=results, rows=rows, seen=seen, caller=caller, automation=automation)
        own = tx is None
        tx = tx if tx is not None else Transaction(self._store)
        self._check_locks(tx, rows, results)
        good = {i: row for i, row in rows.items() if results[i].success}
        if all_or_none and len(good) < len(ops):
            return [r if not r.success else rolled_back(r, keep_id=False) for r in results], tx
        if self._commit_rows(tx, good, results, caller, automation=automation) and own:
            self._env.commit(tx, caller)
        return results, tx

    def _commit_rows(
        self,
        tx: Transaction,
        good: Mapping[int, tuple[Op, Record | None, Record]],
        results: list[SaveResult],
        caller: Caller,
        *,
        automation: bool,
    ) -> bool:
        """Apply the rows that passed their checks under a savepoint; False (all rolled back) when a trigger failed."""
        savepoint = tx.savepoint()
        try:
            self._apply(tx, list(good.values()), caller, automation=automation)
        except TriggerFailure as failure:
            tx.rollback(savepoint)
            for index in good:
                results[index] = SaveResult(None, [failure.error()])
            return False
        except BaseException:
            tx.rollback(savepoint)  # never leave half a save in the store
            raise
        for index, (op, _, after) in good.items():
            results[index].id = after["Id"]
            results[index].created = op.created
            tx.locked |= self._lock_ids(op, after)
        self._locks.acquire(tx.key, tx.locked)
        return True

    # --- staging: the new state of each record and the checks on it -------------------------------------------
    def _stage(
        self,
        index: int,
        op: Op,
        *,
        results: list[SaveResult],
        rows: dict[int, tuple[Op, Record | None, Record]],
        seen: dict[tuple[str, str, Any], int],
        caller: Caller,
        automation: bool,
    ) -> None:
        spec = self._objects[op.sobject]
        errors = self._resolve_references(op)
        before = self._store.get(op.sobject, op.record_id) if op.record_id else None
        after = self._new_state(spec, op, before, caller)
        if op.kind in ("insert", "update") and not errors:
            required = missing_required(spec, after)
            errors = [required] if required else self._unique_errors(spec, index, before, after, seen)
        elif op.kind == "undelete":  # its unique values may have been taken while it was in the Recycle Bin
            errors = self._unique_errors(spec, index, None, after, seen)
        if op.kind in ("insert", "update") and not errors and automation:
            errors = self._checks(op, before, after, caller)
        if errors:
            results[index] = SaveResult(None, errors)
        else:
            rows[index] = (op, before, after)

    def _checks(self, op: Op, before: Record | None, after: Record, caller: Caller) -> list[SaveError]:
        """Validation rules, then duplicate rules (which run only on records the validation rules passed)."""
        if self._merge is None:  # read once per save: the running user does not change within it
            self._merge = self._env.merge_for(caller.user)
        errors = self._rules.check(op.sobject, after, before, self._merge)
        if errors:
            return errors
        duplicate = self._duplicates.check(op.sobject, op.kind, after, caller.duplicate_header, version=caller.version)
        return [duplicate] if duplicate else []

    def _resolve_references(self, op: Op) -> list[SaveError]:
        errors = []
        for lookup, (parent, ext_field, value) in op.references.items():
            parent_spec = self._objects.get(parent)
            field_spec = parent_spec.field(ext_field) if parent_spec else None
            found = self._store.find(parent, field_spec.name, value) if field_spec and field_spec.indexed else []
            if len(found) == 1:
                op.values[lookup] = found[0]
            else:
                errors.append(
                    SaveError(
                        "INVALID_FIELD",
                        f"Foreign key external ID: {value} not found for field {ext_field} in entity {parent}",
                    )
                )
        for name, value in op.values.items():
            fspec = self._objects[op.sobject].fields[name]
            target_sobject = fspec.reference_to
            if fspec.type == "reference" and value and target_sobject is not None and target_sobject in self._objects:
                target = self._store.get(target_sobject, value)
                if target is None or target.get("IsDeleted"):
                    errors.append(
                        SaveError(
                            "INVALID_CROSS_REFERENCE_KEY",
                            f"{fspec.label}: id value of incorrect type: {value}"
                            if not value.startswith(self._objects[target_sobject].key_prefix)
                            else "invalid cross reference id",
                            (name,),
                        )
                    )
        return errors

    def _new_state(self, spec: ObjectSpec, op: Op, before: Record | None, caller: Caller) -> Record:
        now = self._now
        audit = {"LastModifiedDate": now, "LastModifiedById": caller.user.id, "SystemModstamp": now}
        if op.kind == "delete" and before is not None:
            return {**before, **op.values, **audit, "IsDeleted": True}
        if op.kind == "undelete" and before is not None:
            return {**before, **audit, "IsDeleted": False}
        if before is not None:
            return {**before, **op.values, **audit}
        record: Record = dict.fromkeys(spec.fields)
        record.update(op.values)
        record.update(audit)
        record.update(
            Id=make_id(spec.key_prefix, self._env.next_number()),
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=caller.user.id,
        )
        return record

    def _unique_errors(
        self,
        spec: ObjectSpec,
        index: int,
        before: Record | None,
        after: Record,
        seen: dict[tuple[str, str, Any], int],
    ) -> list[SaveError]:
        errors = []
        for fspec in self._unique[spec.name]:
            value = after.get(fspec.name)
            if value in (None, "") or (before is not None and before.get(fspec.name) == value):
                continue
            key = (spec.name, fspec.name, index_key(value, case_sensitive=fspec.case_sensitive))
            other = [i for i in self._store.find(spec.name, fspec.name, value) if i != after["Id"]]
            if key in seen or other:
                holder = other[0] if other else "(another record in this request)"
                errors.append(
                    SaveError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fspec.name} duplicates value on record with id: {holder}",
                        (fspec.name,),
                    )
                )
            seen.setdefault(key, index)
        return errors

    # --- locks ---------------------------------------------------------------------------------------------------
    def _lock_ids(self, op: Op, after: Record) -> set[str]:
        spec = self._objects[op.sobject]
        ids = {after["Id"]} if op.kind != "insert" else set()
        for fspec in spec.fields.values():
            # Parents are locked with their children, as a lookup's parent row is on Salesforce.
            if fspec.type == "reference" and fspec.reference_to in self._objects and after.get(fspec.name):
                ids.add(after[fspec.name])
        return ids

    def lock_targets(self, ops: Sequence[Prepared]) -> set[str]:
        """The rows saving `ops` would lock as the store stands now (what a waiting save waits for)."""
        ids: set[str] = set()
        for op in ops:
            if not isinstance(op, Op):
                continue
            before = self._store.get(op.sobject, op.record_id) if op.record_id else None
            state: Record = {**(before or {}), **op.values, "Id": op.record_id}
            for lookup, (parent, ext_field, value) in op.references.items():
                parent_spec = self._objects.get(parent)
                field_spec = parent_spec.field(ext_field) if parent_spec else None
                found = self._store.find(parent, field_spec.name, value) if field_spec and field_spec.indexed else []
                if len(found) == 1:
                    state[lookup] = found[0]
            ids |= self._lock_ids(op, state)
        return ids

    def _check_locks(
        self, tx: Transaction, rows: dict[int, tuple[Op, Record | None, Record]], results: list[SaveResult]
    ) -> None:
        for index, (op, _, after) in list(rows.items()):
            if not results[index].success:
                continue
            held = self._locks.held_by_others(tx.key, self._lock_ids(op, after))
            if held or self._env.lock_fails():
                target = held[0] if held else after["Id"]
                message = f"unable to obtain exclusive access to this record or 1 records: {target}"
                results[index] = SaveResult(None, [SaveError("UNABLE_TO_LOCK_ROW", message)])

    # --- applying: chunks, triggers, changes ---------------------------------------------------------------------
    def _apply(
        self, tx: Transaction, rows: list[tuple[Op, Record | None, Record]], caller: Caller, *, automation: bool
    ) -> None:
        chunks: list[list[tuple[Op, Record | None, Record]]] = []
        for row in rows:
            if chunks and (chunks[-1][0][0].sobject, chunks[-1][0][0].kind) == (row[0].sobject, row[0].kind):
                chunks[-1].append(row)
            else:
                chunks.append([row])
        if not automation:
            for op, before, after in rows:
                tx.put(op.sobject, after, self._change(op.sobject, op.kind, before, after))
            return
        bypass = self._env.bypass_for(caller.user)
        for chunk in chunks:
            self._apply_chunk(tx, chunk, bypass, caller)

    def _apply_chunk(
        self,
        tx: Transaction,
        chunk: list[tuple[Op, Record | None, Record]],
        bypass: Mapping[str, Any],
        caller: Caller,
    ) -> None:
        sobject, kind = chunk[0][0].sobject, chunk[0][0].kind
        pairs = [(before, after) for _, before, after in chunk]
        nested = self._nested_update(bypass, caller)
        self._triggers.fire(tx, sobject, f"before {kind}", pairs, bypass=bypass, nested_update=nested)
        for _, before, after in chunk:
            tx.put(sobject, after, self._change(sobject, kind, before, after))
        self._triggers.fire(tx, sobject, f"after {kind}", pairs, bypass=bypass, nested_update=nested)

    def _nested_update(
        self, bypass: Mapping[str, Any], caller: Caller
    ) -> Callable[[Transaction, str, list[Record]], None]:
        def update(tx: Transaction, sobject: str, partials: list[Record]) -> None:
            now = self._now
            pairs: list[tuple[Record | None, Record]] = []
            for partial in partials:
                before = self._store.get(sobject, partial["Id"])
                if before is None:
                    continue
                after = {
                    **before,
                    **partial,
                    "LastModifiedDate": now,
                    "SystemModstamp": now,
                    "LastModifiedById": caller.user.id,
                }
                pairs.append((before, after))
            nested = self._nested_update(bypass, caller)
            self._triggers.fire(tx, sobject, "before update", pairs, bypass=bypass, nested_update=nested)
            for before, after in pairs:
                tx.put(sobject, after, self._change(sobject, "update", before, after))
            self._triggers.fire(tx, sobject, "after update", pairs, bypass=bypass, nested_update=nested)

        return update

    def _change(self, sobject: str, kind: str, before: Record | None, after: Record) -> Change | None:
        if not self._objects[sobject].change_events:
            return None
        if kind in ("insert", "undelete"):
            # Both carry every field: a restored record's event holds "all fields from the original record".
            values = {k: v for k, v in after.items() if v is not None and k not in ("Id", "IsDeleted")}
            return Change(sobject, "CREATE" if kind == "insert" else "UNDELETE", after["Id"], (), values)
        if kind == "delete":
            return Change(sobject, "DELETE", after["Id"], (), {})
        assert before is not None  # noqa: S101 - updates always have a prior state
        changed = tuple(k for k, v in after.items() if before.get(k) != v and k != "Id" and k not in AUDIT_FIELDS)
        if not changed:
            return None
        changed = (*changed, *AUDIT_FIELDS)
        return Change(sobject, "UPDATE", after["Id"], changed, {k: after[k] for k in changed})
