"""The Recycle Bin, undelete and merge: what people do in the UI and the REST API cannot do.

Deleted records stay in the Recycle Bin for 15 days: `queryAll` returns them with `IsDeleted` true, and an
undelete restores them with an UNDELETE change event that carries all fields of the record. After 15 days of
the org's clock they are purged for good. Merge (SOAP `merge()` or the UI, there is no REST resource) combines
up to three Accounts or Contacts in one transaction, in the documented order: the losers are deleted with
`MasterRecordId` set to the winner (before/after delete triggers fire), their children are reparented (no
triggers), then the winner is updated (update triggers fire). Change Data Capture sees DELETE for the losers,
UPDATE for every reparented child and UPDATE for the winner, in one transaction.

    result = await org.recycle_bin.merge("Account", winner_id, [loser_id])
    await org.recycle_bin.undelete([loser_id])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.emulator.clock import parse_datetime_ms
from bridge.emulator.ids import normalize_id
from bridge.emulator.prepare import Op, Prepared, prepare_update
from bridge.emulator.profile import MERGEABLE, ObjectSpec, UserSpec
from bridge.emulator.results import SaveError
from bridge.emulator.store import RecordStore
from bridge.emulator.transaction import Change, Transaction
from bridge.emulator.writes import AUDIT_FIELDS, Caller

if TYPE_CHECKING:
    from bridge.emulator.org import Org

RECYCLE_BIN_S = 15 * 24 * 3600.0
UI_CLIENT = "SfdcInternalAPI/"  # what a Lightning Experience edit's changeOrigin names as its client
MAX_MERGED = 2  # "Up to three records can be merged in a single request, including the master record"


def _record(objects: Mapping[str, ObjectSpec], store: RecordStore, value: Any) -> tuple[ObjectSpec, str] | SaveError:
    record_id = normalize_id(value) if isinstance(value, str) else None
    spec = next((o for o in objects.values() if record_id and record_id.startswith(o.key_prefix)), None)
    if record_id is None or spec is None:
        return SaveError("MALFORMED_ID", f"malformed id {value}")
    if store.get(spec.name, record_id) is None:
        return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    return spec, record_id


def prepare_undelete(objects: Mapping[str, ObjectSpec], store: RecordStore, value: Any) -> Prepared:
    """Restoring a record from the Recycle Bin; a live record fails with UNDELETE_FAILED."""
    found = _record(objects, store, value)
    if isinstance(found, SaveError):
        return [found]
    spec, record_id = found
    if not (store.get(spec.name, record_id) or {}).get("IsDeleted"):
        return [SaveError("UNDELETE_FAILED", "Entity is not in the recycle bin")]
    return Op("undelete", spec.name, record_id=record_id)


@dataclass(frozen=True, slots=True)
class MergePlan:
    """The three steps of one merge, as DML operations."""

    losers: list[Prepared]
    children: list[Prepared]
    master: Prepared


@dataclass(frozen=True, slots=True)
class MergeRequest:
    """Merge `merge_ids` into `master_id`, with `fields` overriding the master's values (as SOAP MergeRequest)."""

    sobject: str
    master_id: str
    merge_ids: tuple[str, ...]
    fields: Mapping[str, Any]


def _merge_ids(
    objects: Mapping[str, ObjectSpec], store: RecordStore, spec: ObjectSpec, request: MergeRequest
) -> list[str] | SaveError:
    if not 1 <= len(request.merge_ids) <= MAX_MERGED:
        return SaveError("INVALID_OPERATION", "A merge takes the master record and one or two records to merge")
    ids: list[str] = []
    for value in (request.master_id, *request.merge_ids):
        found = _record(objects, store, value)
        if isinstance(found, SaveError):
            return found
        if found[0].name != spec.name:
            return SaveError("INVALID_TYPE", f"{value} is not a {spec.name}: only records of one type merge")
        if (store.get(spec.name, found[1]) or {}).get("IsDeleted"):
            return SaveError("ENTITY_IS_DELETED", "entity is deleted")
        ids.append(found[1])
    if len(set(ids)) != len(ids):
        return SaveError("INVALID_OPERATION", "The master record cannot also be a record to merge")
    return ids


def plan_merge(objects: Mapping[str, ObjectSpec], store: RecordStore, request: MergeRequest) -> MergePlan | SaveError:
    """What the merge does, or why it cannot be done."""
    spec = objects.get(request.sobject)
    if spec is None or spec.name not in MERGEABLE:
        message = f"Cannot merge records of type {request.sobject}; merge takes Account, Contact, Lead"
        return SaveError("INVALID_TYPE", message)
    ids = _merge_ids(objects, store, spec, request)
    if isinstance(ids, SaveError):
        return ids
    master, losers = ids[0], ids[1:]
    deletes: list[Prepared] = [Op("delete", spec.name, {"MasterRecordId": master}, record_id=i) for i in losers]
    children = _reparent(objects, store, spec, master, losers)
    return MergePlan(deletes, children, prepare_update(spec, request.fields, store, master))


def _reparent(
    objects: Mapping[str, ObjectSpec], store: RecordStore, parent: ObjectSpec, master: str, losers: list[str]
) -> list[Prepared]:
    ops: list[Prepared] = []
    for child in objects.values():
        for fspec in child.fields.values():
            if fspec.system or fspec.reference_to != parent.name:
                continue
            for loser in losers:
                for child_id in store.find(child.name, fspec.name, loser):
                    ops.append(prepare_update(child, {fspec.name: master}, store, child_id))
    return ops


def _first_error(results: Sequence[Any]) -> SaveError | None:
    return next((r.errors[0] for r in results if not r.success), None)


class RecycleBin:
    """Undelete, merge and purging for one org (`org.recycle_bin`)."""

    def __init__(self, org: Org) -> None:
        self._org = org

    def __repr__(self) -> str:
        deleted = sum(
            1
            for n in self._org.store.names()
            for r in self._org.store.rows(n, include_deleted=True)
            if r.get("IsDeleted")
        )
        return f"RecycleBin(records={deleted})"

    def caller(self, user: UserSpec | str | None, client: str | None) -> Caller:
        """A person in the UI by default (SOAP, client SfdcInternalAPI/), or an API client doing the same call."""
        person = self._org.user(user) if user else self._org.human_user()
        return Caller(person, client or UI_CLIENT, "soap", "62.0")

    def purge(self) -> int:
        """Delete for good what has been in the Recycle Bin for more than 15 days; the number purged."""
        horizon_ms = (self._org.clock() - RECYCLE_BIN_S) * 1000
        store, purged = self._org.store, 0
        for name in store.names():
            gone = [
                r["Id"]
                for r in store.rows(name, include_deleted=True)
                if r.get("IsDeleted") and parse_datetime_ms(r["SystemModstamp"]) < horizon_ms
            ]
            for record_id in gone:
                store.restore(name, record_id, None)
            purged += len(gone)
        return purged

    async def undelete(
        self, ids: Sequence[str], *, user: UserSpec | str | None = None, client: str | None = None
    ) -> list[dict[str, Any]]:
        """Restore records from the Recycle Bin; per-record results `{"id", "success", "errors"}`."""
        self.purge()
        org = self._org
        ops = [prepare_undelete(org.profile.objects, org.store, i) for i in ids]
        results, tx = await org.save_waiting(ops, all_or_none=False, caller=self.caller(user, client))
        await org.hold(tx)
        return [r.as_item() for r in results]

    async def merge(
        self,
        sobject: str,
        master_id: str,
        merge_ids: Sequence[str],
        fields: Mapping[str, Any] | None = None,
        *,
        user: UserSpec | str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Merge records into `master_id` (with `fields` overriding the master's values); a SOAP MergeResult."""
        org = self._org
        request = MergeRequest(sobject, master_id, tuple(merge_ids), fields or {})
        plan = plan_merge(org.profile.objects, org.store, request)
        if isinstance(plan, SaveError):
            return {"id": master_id, "success": False, "errors": [plan.as_item()]}
        caller = self.caller(user, client)
        tx = Transaction(org.store)
        try:
            error = await self._run(plan, caller, tx)
        except BaseException:
            tx.rollback()
            org.release(tx)
            raise
        if error is not None:
            tx.rollback()
            org.release(tx)
            return {"id": master_id, "success": False, "errors": [error.as_item()]}
        org.commit(tx, caller)
        await org.hold(tx)
        master = plan.master
        return {
            "id": master.record_id if isinstance(master, Op) else master_id,
            "success": True,
            "errors": [],
            "mergedRecordIds": [op.record_id for op in plan.losers if isinstance(op, Op)],
            "updatedRelatedIds": [op.record_id for op in plan.children if isinstance(op, Op)],
        }

    async def _run(self, plan: MergePlan, caller: Caller, tx: Transaction) -> SaveError | None:
        org = self._org
        steps = ((plan.losers, True), (plan.children, False), ([plan.master], True))
        for ops, automation in steps:
            if not ops:
                continue
            results, _ = await org.save_waiting(ops, all_or_none=True, caller=caller, tx=tx, automation=automation)
            error = _first_error(results)
            if error is not None:
                return error
        master = plan.master
        tracked = isinstance(master, Op) and org.profile.objects[master.sobject].change_events
        if isinstance(master, Op) and tracked and not any(c.record_id == master.record_id for c in tx.changes):
            # The winner is updated even when no field changed; its change event says so.
            after = org.store.get(master.sobject, master.record_id or "") or {}
            tx.changes.append(
                Change(master.sobject, "UPDATE", after["Id"], AUDIT_FIELDS, {k: after[k] for k in AUDIT_FIELDS})
            )
        return None
