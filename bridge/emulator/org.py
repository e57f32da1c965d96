"""The emulated org: its profile, records, limits, sessions, faults, change feed and the write path.

`Org` is the state every API of the emulator serves. Besides the HTTP app, other emulator modules (SOQL, Bulk
API 2.0) use its Python methods: `describe`, `rows`, `get`, `upsert_many`, `insert_many`, `update_many`,
`delete_many`, `tooling_rows` and `count_call`.

    org = Org(load_profile("default"), daily_limit=1000)
    org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "A-1", "Name": "Acme"}])
    org.clock.advance(24 * 3600)   # cross the daily window
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.emulator.cdc import ChangePublisher
from bridge.emulator.clock import EmulatorClock
from bridge.emulator.describe import describe_global, describe_sobject
from bridge.emulator.duplicates import DuplicateHeader, DuplicateRules
from bridge.emulator.faults import Faults
from bridge.emulator.fields import check_record, missing_required
from bridge.emulator.ids import make_id, normalize_id
from bridge.emulator.latency import LatencyModel
from bridge.emulator.limits import ConcurrentRequests, DailyApiUsage
from bridge.emulator.locks import LockTimer, RowLocks
from bridge.emulator.prepare import Prepared, prepare_create, prepare_delete, prepare_update, prepare_upsert
from bridge.emulator.profile import ObjectSpec, Profile, UserSpec, load_profile
from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.recycle import RecycleBin
from bridge.emulator.results import SaveError, SaveResult
from bridge.emulator.rules import ValidationRules
from bridge.emulator.sessions import Sessions
from bridge.emulator.store import Record, RecordStore
from bridge.emulator.tooling import tooling_rows
from bridge.emulator.transaction import Transaction
from bridge.emulator.triggers import Triggers
from bridge.emulator.writes import Caller, WriteEnv, Writer

UserRef = UserSpec | str | None


@dataclass(frozen=True, slots=True)
class CallLogEntry:
    """One API request as the org saw it (for assertions and benchmarks)."""

    at_s: float
    method: str
    path: str
    status: int
    user: str
    client: str | None
    api_calls: int


class Org:
    """The state of one emulated org. Constructors do no I/O; `clock` defaults to wall time."""

    def __init__(
        self,
        profile: Profile | None = None,
        *,
        clock: EmulatorClock | None = None,
        daily_limit: int | None = None,
        latency: LatencyModel | None = None,
        seed: int = 0,
    ) -> None:
        self.profile = profile or load_profile("default")
        self.clock = clock or EmulatorClock()
        self.api_usage = DailyApiUsage(daily_limit or self.profile.daily_api_limit, self.clock)
        self.concurrency = ConcurrentRequests(self.profile.concurrent_long_limit, self.clock)
        self.sessions = Sessions(self.profile.org_id, self.profile.session_timeout_s, self.clock)
        self.faults = Faults(seed=seed)
        self.latency = latency or LatencyModel()
        self.locks = RowLocks()
        self.store = RecordStore(self.profile.objects.values())
        self.feed = PubSubFeed(
            clock=self.clock, session_valid=self.sessions.valid, tenant_id=self.profile.org_id, seed=seed
        )
        self.call_log: deque[CallLogEntry] = deque(maxlen=10_000)
        self._publisher = ChangePublisher(self.feed, self.profile.objects, self.clock)
        self._numbers = itertools.count(1)
        self._event_random = random.Random(seed)  # noqa: S311 - reproducible event UUIDs, not security
        self.rules = ValidationRules(self.profile.validation_rules, self.profile.objects, self.clock)
        self.duplicates = DuplicateRules(self.profile.duplicate_rules, self.store)
        self._writer = self._new_writer()
        self.recycle_bin = RecycleBin(self)
        self._seed_records()

    def _new_writer(self) -> Writer:
        """The write path over this org's store, rules, triggers and locks."""
        env = WriteEnv(
            now_iso=self.clock.iso,
            next_number=lambda: next(self._numbers),
            bypass_for=self.bypass_for,
            merge_for=self.merge_fields,
            lock_fails=self.faults.lock_fails,
            commit=self.commit,
        )
        return Writer(
            self.store,
            objects=self.profile.objects,
            rules=self.rules,
            triggers=Triggers(self.profile.triggers, self.store),
            locks=self.locks,
            duplicates=self.duplicates,
            env=env,
        )

    def __repr__(self) -> str:
        counts = {name: self.store.count(name) for name in self.store.names()}
        return f"Org({self.profile.org_name!r}, api_usage={self.api_usage.header()}, records={counts})"

    # --- users and settings ---------------------------------------------------------------------------------------
    def user(self, ref: UserRef = None) -> UserSpec:
        """A user by spec, username or id; None is the integration user (the first connected app's run-as)."""
        if isinstance(ref, UserSpec):
            return ref
        found = self.profile.user(ref or self.profile.connected_apps[0].run_as)
        if found is None:
            raise KeyError(f"no such user {ref!r}")
        return found

    def human_user(self) -> UserSpec:
        """The first user who is not the integration user: a person, whose UI edits fire every trigger."""
        integration = self.user()
        return next((u for u in self.profile.users if u.id != integration.id), integration)

    def caller(
        self,
        user: UserRef = None,
        client: str | None = None,
        version: str = "62.0",
        *,
        duplicate_header: DuplicateHeader | None = None,
    ) -> Caller:
        """Who writes: a user, the `Sforce-Call-Options` client and the `Sforce-Duplicate-Rule-Header` flags."""
        return Caller(self.user(user), client, "rest", version, duplicate_header or DuplicateHeader())

    def set_duplicate_rules(self, *, active: bool) -> None:
        """Switch the profile's duplicate rules on or off (the default profile ships them off)."""
        self.profile = self.profile.with_duplicate_rules(active=active)
        self.duplicates.use(self.profile.duplicate_rules)

    def bypass_for(self, user: UserSpec) -> dict[str, Any]:
        """The bypass setting as `getInstance()` reads it for `user`: user over profile over org default."""
        name = self.profile.bypass_setting
        if not name or name not in self.profile.objects:
            return {}
        merged: dict[str, Any] = {}
        for owner in (self.profile.org_id, user.profile_id, user.id):
            for record_id in self.store.find(name, "SetupOwnerId", owner):
                record = self.store.get(name, record_id) or {}
                merged.update({k: v for k, v in record.items() if v is not None})
        spec = self.profile.objects[name]
        return {f: merged.get(f, False if spec.fields[f].type == "boolean" else None) for f in spec.fields}

    def merge_fields(self, user: UserSpec) -> dict[str, Any]:
        """Global merge fields for formulas: `$User`, `$Profile`, `$Setup`."""
        setup = {self.profile.bypass_setting: self.bypass_for(user)} if self.profile.bypass_setting else {}
        return {
            "$User": {
                "Id": user.id,
                "Username": user.username,
                "ProfileId": user.profile_id,
                "Alias": user.alias,
                "Name": user.name,
            },
            "$Profile": {"Id": user.profile_id, "Name": user.profile_name},
            "$Organization": {"Id": self.profile.org_id, "Name": self.profile.org_name},
            "$Setup": setup,
        }

    def _seed_records(self) -> None:
        caller = self.caller()
        for sobject, records in self.profile.records.items():
            ops = [prepare_create(self.profile.objects[sobject], self._owner_resolved(r)) for r in records]
            _, tx = self._writer.save(ops, all_or_none=True, caller=caller)
            self.release(tx)

    def _owner_resolved(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        owner = out.get("SetupOwnerId")
        if owner == "$org":
            out["SetupOwnerId"] = self.profile.org_id
        elif isinstance(owner, str) and self.profile.user(owner) is not None:
            out["SetupOwnerId"] = self.user(owner).id
        return out

    # --- reading ------------------------------------------------------------------------------------------------
    def sobject(self, name: str) -> ObjectSpec | None:
        """The object's spec (case-insensitive name), or None."""
        return self.profile.sobject(name)

    def describe(self, sobject: str, version: str = "62.0") -> dict[str, Any] | None:
        """The sObject describe JSON, or None for an unknown object."""
        spec = self.sobject(sobject)
        return None if spec is None else describe_sobject(spec, self.profile.objects, version)

    def describe_global(self, version: str = "62.0") -> dict[str, Any]:
        """The describeGlobal JSON."""
        return describe_global(self.profile.objects.values(), version)

    def rows(self, sobject: str, include_deleted: bool = False) -> Iterator[Record]:
        """Stored records (Id, fields, IsDeleted, CreatedDate, LastModifiedDate, SystemModstamp). Do not mutate."""
        spec = self.sobject(sobject)
        if spec is None:
            return iter(())
        if include_deleted:
            self.recycle_bin.purge()
        return self.store.rows(spec.name, include_deleted=include_deleted)

    def get(self, sobject: str, record_id: str) -> Record | None:
        """One stored record by Id (deleted ones included), or None."""
        spec = self.sobject(sobject)
        full = normalize_id(record_id)
        return None if spec is None or full is None else self.store.get(spec.name, full)

    def by_external_id(self, sobject: str, field: str, value: Any) -> Record | None:
        """The live record whose external id `field` is `value` (for assertions)."""
        spec = self.sobject(sobject)
        fspec = spec.field(field) if spec else None
        if spec is None or fspec is None or not fspec.indexed:
            return None
        found = self.store.find(spec.name, fspec.name, value)
        return self.store.get(spec.name, found[0]) if found else None

    def count(self, sobject: str) -> int:
        """Live records of `sobject`."""
        spec = self.sobject(sobject)
        return 0 if spec is None else self.store.count(spec.name)

    def tooling_rows(self, entity: str) -> list[dict[str, Any]]:
        """Rows of a Tooling entity: ValidationRule, ApexTrigger, CustomObject, CustomField."""
        return tooling_rows(self.profile, entity)

    # --- limits -------------------------------------------------------------------------------------------------
    def count_call(self, kind: str = "rest", calls: int = 1) -> bool:
        """Count API calls against the daily allocation; False (and nothing counted) when it is spent."""
        del kind  # every kind of call costs the same here; the argument documents the caller's intent
        return self.api_usage.try_spend(calls)

    # --- writing ------------------------------------------------------------------------------------------------
    def save(
        self,
        ops: Sequence[Prepared],
        *,
        all_or_none: bool,
        caller: Caller,
        tx: Transaction | None = None,
        automation: bool = True,
    ) -> tuple[list[SaveResult], Transaction]:
        """Save prepared operations (see `bridge.emulator.prepare`); commits unless `tx` is given.

        A row another transaction holds fails at once with UNABLE_TO_LOCK_ROW; `save_waiting` waits for it.
        """
        return self._writer.save(ops, all_or_none=all_or_none, caller=caller, tx=tx, automation=automation)

    async def save_waiting(
        self,
        ops: Sequence[Prepared],
        *,
        all_or_none: bool,
        caller: Caller,
        tx: Transaction | None = None,
        automation: bool = True,
    ) -> tuple[list[SaveResult], Transaction]:
        """Like `save`, first waiting (up to 10 s of emulated time) for rows concurrent transactions hold."""
        timer = LockTimer(self.clock, speed=self.latency.speed)
        await self.locks.wait(tx.key if tx else None, lambda: self._writer.lock_targets(ops), timer)
        return self.save(ops, all_or_none=all_or_none, caller=caller, tx=tx, automation=automation)

    def commit(self, tx: Transaction, caller: Caller) -> None:
        """Publish the transaction's change events."""
        self._publisher.publish(tx.changes, transaction_key=tx.key, user_id=caller.user.id, origin=caller.change_origin)
        tx.changes.clear()

    def release(self, tx: Transaction) -> None:
        """Release the transaction's row locks."""
        self.locks.release(tx.key, tx.locked)

    async def hold(self, tx: Transaction) -> None:
        """Keep the transaction's rows locked for its simulated duration, then release them."""
        try:
            wait_s = self.latency.write_s(tx.records, tx.cpu_ms)
            if wait_s > 0:
                await asyncio.sleep(wait_s)
        finally:
            self.release(tx)

    def publish_event(self, sobject: str, body: Mapping[str, Any], user: UserRef = None) -> dict[str, Any]:
        """Publish a Platform Event (`X__e`) as `POST /sobjects/X__e` does; a SaveResult-shaped answer.

        Success carries the OPERATION_ENQUEUED entry whose message is the event's UUID, as the API answers.
        """
        spec = self._spec(sobject)
        errors = self.event_errors(sobject, body)
        if errors:
            return SaveResult(None, errors).as_item()
        checked = check_record(spec, body)
        event_uuid = str(uuid.UUID(int=self._event_random.getrandbits(128), version=4))
        self._publisher.publish_event(spec, checked.values, event_uuid=event_uuid, user_id=self.user(user).id)
        enqueued = SaveError("OPERATION_ENQUEUED", event_uuid)
        return {"id": make_id(spec.key_prefix, next(self._numbers)), "success": True, "errors": [enqueued.as_item()]}

    def event_errors(self, sobject: str, body: Mapping[str, Any]) -> list[SaveError]:
        """Why a Platform Event would not publish (unknown or malformed fields, a required field missing)."""
        spec = self._spec(sobject)
        checked = check_record(spec, body)
        missing = missing_required(spec, checked.values)
        return [*checked.errors, *([missing] if missing else [])]

    def _run(
        self, ops: Sequence[Prepared], all_or_none: bool, user: UserRef, client: str | None
    ) -> list[dict[str, Any]]:
        results, tx = self.save(ops, all_or_none=all_or_none, caller=self.caller(user, client))
        self.release(tx)
        return [r.as_item() for r in results]

    def upsert_many(
        self,
        sobject: str,
        external_id_field: str,
        records: Iterable[Mapping[str, Any]],
        all_or_none: bool = False,
        user: UserRef = None,
        *,
        client: str | None = None,
    ) -> list[dict[str, Any]]:
        """Upsert by external id; Collections-style per-record results (`id`, `success`, `errors`, `created`)."""
        spec = self._spec(sobject)
        ops = [prepare_upsert(spec, external_id_field, r, self.store) for r in records]
        return self._run(ops, all_or_none, user, client)

    def insert_many(
        self,
        sobject: str,
        records: Iterable[Mapping[str, Any]],
        all_or_none: bool = False,
        user: UserRef = None,
        *,
        client: str | None = None,
    ) -> list[dict[str, Any]]:
        """Create records; Collections-style results."""
        spec = self._spec(sobject)
        return self._run([prepare_create(spec, r) for r in records], all_or_none, user, client)

    def update_many(
        self,
        sobject: str,
        records: Iterable[Mapping[str, Any]],
        all_or_none: bool = False,
        user: UserRef = None,
        *,
        client: str | None = None,
    ) -> list[dict[str, Any]]:
        """Update records named by their `Id`; Collections-style results."""
        spec = self._spec(sobject)
        return self._run([prepare_update(spec, r, self.store) for r in records], all_or_none, user, client)

    def delete_many(
        self, ids: Iterable[str], all_or_none: bool = False, user: UserRef = None, *, client: str | None = None
    ) -> list[dict[str, Any]]:
        """Delete records of any object by Id; Collections-style results."""
        ops = [prepare_delete(self.profile.objects, self.store, i) for i in ids]
        return self._run(ops, all_or_none, user, client)

    def _spec(self, sobject: str) -> ObjectSpec:
        spec = self.sobject(sobject)
        if spec is None:
            raise KeyError(f"sObject type '{sobject}' is not supported.")
        return spec
