"""The mediation adapter: read and write the integration user's bypass record through a Salesforce client.

async with SalesforceClient(settings.salesforce, auth) as sf:
    mediation = Mediation(sf, load_trigger_map())
    status = await mediation.status("integration@example.com")
    status = await mediation.enable("integration@example.com", ["Rollups"])
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from bridge.mediation.bypass import (
    MediationStatus,
    SettingRecord,
    TriggerRow,
    UserRef,
    plan_change,
    resolve_flags,
    trigger_statuses,
)
from bridge.mediation.errors import MediationError, UserNotFound
from bridge.mediation.groups import TriggerMap

_USERNAME = re.compile(r"[^'\\\s]{1,80}")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


class SetupClient(Protocol):
    """The calls mediation needs; `bridge.salesforce.SalesforceClient` has them."""

    def query(self, soql: str) -> AsyncIterator[dict[str, Any]]: ...

    async def tooling_query(self, soql: str) -> list[dict[str, Any]]: ...

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> object: ...

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None: ...


class Mediation:
    """Status, enable and disable of the bypass for one user, on one org."""

    def __init__(self, client: SetupClient, trigger_map: TriggerMap) -> None:
        for name in (trigger_map.setting, *trigger_map.flags):
            if not _API_NAME.fullmatch(name):
                raise MediationError(f"{name!r} is not an API name")
        self._client = client
        self._map = trigger_map

    def __repr__(self) -> str:
        return f"Mediation(setting={self._map.setting!r}, flags={self._map.flags!r})"

    async def user(self, username: str) -> UserRef:
        """The user's Id and ProfileId, or `UserNotFound`."""
        if not _USERNAME.fullmatch(username):
            raise UserNotFound(f"{username!r} is not a username")
        soql = f"SELECT Id, ProfileId FROM User WHERE Username = '{username}'"  # noqa: S608 - checked above
        rows = [row async for row in self._client.query(soql)]
        if not rows:
            raise UserNotFound(f"no user with the username {username}")
        return UserRef(str(rows[0]["Id"]), username, _optional(rows[0].get("ProfileId")))

    async def records(self) -> list[SettingRecord]:
        """Every record of the setting, at every level."""
        soql = f"SELECT Id, SetupOwnerId, {', '.join(self._map.flags)} FROM {self._map.setting}"  # noqa: S608
        return [SettingRecord.from_json(row, self._map.flags) async for row in self._client.query(soql)]

    async def triggers(self) -> list[TriggerRow]:
        """Every Apex trigger of the org, from the Tooling API."""
        rows = await self._client.tooling_query("SELECT Name, TableEnumOrId, Status FROM ApexTrigger")
        return [TriggerRow.from_json(row) for row in rows]

    async def status(self, username: str) -> MediationStatus:
        """The user's effective flags, its own record and what each trigger does on its writes."""
        user = await self.user(username)
        return await self._status(user)

    async def enable(self, username: str, groups: Sequence[str] = ()) -> MediationStatus:
        """Set the groups' flags (all triggers when none are named) on the user's own record."""
        flags = [self._map.flag_for(g) for g in groups] or [self._map.all_flag]
        return await self._set(username, dict.fromkeys(flags, True))

    async def disable(self, username: str, groups: Sequence[str] = ()) -> MediationStatus:
        """Clear the groups' flags (every flag when none are named) on the user's own record."""
        flags = [self._map.flag_for(g) for g in groups] or list(self._map.flags)
        return await self._set(username, dict.fromkeys(flags, False))

    async def _set(self, username: str, wanted: Mapping[str, bool]) -> MediationStatus:
        user = await self.user(username)
        records = await self.records()
        own = next((r for r in records if r.setup_owner_id == user.id), None)
        change = plan_change(user, own, wanted)
        if change.record_id is None:
            await self._client.create(self._map.setting, change.fields)
        elif not change.is_noop:
            await self._client.update(self._map.setting, change.record_id, change.fields)
        return await self._status(user)

    async def _status(self, user: UserRef) -> MediationStatus:
        records = await self.records()
        effective = resolve_flags(records, user, self._map.flags)
        own = next((r for r in records if r.setup_owner_id == user.id), None)
        triggers = trigger_statuses(await self.triggers(), effective, self._map)
        return MediationStatus(user, own, effective, triggers, self._map.all_flag)


def _optional(value: object) -> str | None:
    return str(value) if value else None
