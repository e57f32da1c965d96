"""The pure core of trigger mediation: resolve the hierarchy setting for a user and decide what is bypassed.

No I/O: callers pass the setting's records, the user, the org's triggers and the trigger map.

    effective = resolve_flags(records, user, trigger_map.flags)
    statuses = trigger_statuses(triggers, effective, trigger_map)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.mediation.groups import TriggerMap

USER_PREFIX = "005"
PROFILE_PREFIX = "00e"
ORG_PREFIX = "00D"


class Level(StrEnum):
    """Where a hierarchy setting record applies; the most specific level wins, field by field."""

    USER = "user"
    PROFILE = "profile"
    ORG = "org default"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SettingRecord:
    """One record of the hierarchy setting: its Id, its `SetupOwnerId` and its checkbox values."""

    id: str
    setup_owner_id: str
    flags: Mapping[str, bool | None]

    @classmethod
    def from_json(cls, row: Mapping[str, Any], flags: Iterable[str]) -> SettingRecord:
        """A record from a REST query row that selected `Id, SetupOwnerId` and the flags."""
        return cls(str(row["Id"]), str(row["SetupOwnerId"]), {f: _checkbox(row.get(f)) for f in flags})

    @property
    def level(self) -> Level:
        """User, profile or org default, from the `SetupOwnerId` key prefix."""
        prefixes = {USER_PREFIX: Level.USER, PROFILE_PREFIX: Level.PROFILE, ORG_PREFIX: Level.ORG}
        return prefixes.get(self.setup_owner_id[:3], Level.OTHER)


@dataclass(frozen=True, slots=True)
class UserRef:
    """The user whose effective setting is resolved."""

    id: str
    username: str
    profile_id: str | None = None


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag's effective value and the level it came from (None: defined nowhere, so off)."""

    value: bool
    source: Level | None


def _checkbox(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def records_for(records: Iterable[SettingRecord], user: UserRef) -> list[SettingRecord]:
    """The records that apply to `user`, most specific first: user, profile, org default."""
    owners = {Level.USER: user.id, Level.PROFILE: user.profile_id}
    applying = [r for r in records if r.level is Level.ORG or owners.get(r.level) == r.setup_owner_id]
    order = [Level.USER, Level.PROFILE, Level.ORG]
    return sorted(applying, key=lambda r: order.index(r.level))


def resolve_flags(records: Iterable[SettingRecord], user: UserRef, flags: Iterable[str]) -> dict[str, Flag]:
    """What `Integration_Bypass__c.getInstance()` returns for `user`: per flag, the most specific defined value."""
    applying = records_for(records, user)
    resolved: dict[str, Flag] = {}
    for name in flags:
        found = next(((r.flags[name], r.level) for r in applying if r.flags.get(name) is not None), None)
        resolved[name] = Flag(bool(found[0]), found[1]) if found else Flag(value=False, source=None)
    return resolved


class TriggerState(StrEnum):
    """What a trigger does on the user's writes."""

    BYPASSED = "bypassed"
    PARTLY_BYPASSED = "partly bypassed"
    RUNS = "runs"
    INACTIVE = "inactive"
    UNMANAGED = "runs (not on the handler framework)"


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """One row of the Tooling API's `SELECT Name, TableEnumOrId, Status FROM ApexTrigger`."""

    name: str
    sobject: str
    status: str = "Active"

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> TriggerRow:
        return cls(str(row["Name"]), str(row.get("TableEnumOrId") or ""), str(row.get("Status") or "Active"))


@dataclass(frozen=True, slots=True)
class TriggerStatus:
    """A trigger, its state for the user, and the flags that skip (some of) its handlers."""

    name: str
    sobject: str
    state: TriggerState
    bypassed_flags: tuple[str, ...] = ()
    running_flags: tuple[str, ...] = ()
    essential: bool = False


def _status(row: TriggerRow, on: frozenset[str], trigger_map: TriggerMap) -> TriggerStatus:
    groups = trigger_map.triggers.get(row.name)
    if row.status != "Active":
        return TriggerStatus(row.name, row.sobject, TriggerState.INACTIVE)
    if groups is None:
        return TriggerStatus(row.name, row.sobject, TriggerState.UNMANAGED)
    skipped = groups.flags if trigger_map.all_flag in on else groups.flags & on
    running = groups.flags - skipped
    if not skipped:
        state = TriggerState.RUNS
    elif running or groups.essential:
        state = TriggerState.PARTLY_BYPASSED
    else:
        state = TriggerState.BYPASSED
    return TriggerStatus(
        row.name, row.sobject, state, tuple(sorted(skipped)), tuple(sorted(running)), essential=groups.essential
    )


def trigger_statuses(
    triggers: Iterable[TriggerRow], effective: Mapping[str, Flag], trigger_map: TriggerMap
) -> tuple[TriggerStatus, ...]:
    """Each trigger's state for a user whose effective flags are `effective`, sorted by object and name."""
    on = frozenset(name for name, flag in effective.items() if flag.value)
    rows = sorted(triggers, key=lambda t: (t.sobject, t.name))
    return tuple(_status(row, on, trigger_map) for row in rows)


@dataclass(frozen=True, slots=True)
class MediationStatus:
    """Everything `mediation status` reports about one user."""

    user: UserRef
    user_record: SettingRecord | None
    effective: Mapping[str, Flag]
    triggers: tuple[TriggerStatus, ...] = field(default=())
    all_flag: str = "All__c"

    @property
    def bypass_on(self) -> bool:
        """True when any flag is effectively set for the user."""
        return any(flag.value for flag in self.effective.values())

    @property
    def bypassed(self) -> tuple[str, ...]:
        """The names of fully or partly bypassed triggers."""
        skipped = {TriggerState.BYPASSED, TriggerState.PARTLY_BYPASSED}
        return tuple(t.name for t in self.triggers if t.state in skipped)


@dataclass(frozen=True, slots=True)
class Change:
    """The write that sets the user's flags: create a user-level record, update it, or nothing."""

    record_id: str | None
    fields: Mapping[str, Any]

    @property
    def is_noop(self) -> bool:
        return not self.fields


def plan_change(user: UserRef, user_record: SettingRecord | None, wanted: Mapping[str, bool]) -> Change:
    """The create or update that gives `user` its own record with the `wanted` flag values."""
    if user_record is None:
        return Change(None, {"SetupOwnerId": user.id, **wanted})
    changed = {name: value for name, value in wanted.items() if user_record.flags.get(name) is not value}
    return Change(user_record.id, changed)
