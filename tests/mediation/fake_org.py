"""An in-memory org that answers exactly the calls `Mediation` makes (`SetupClient`), for tests without a socket."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from bridge.errors import BridgeError
from bridge.salesforce import InvalidRequest

INTEGRATION = {"Id": "005000000000001AAA", "ProfileId": "00e000000000001AAA", "Username": "integration@example.com"}
HUMAN = {"Id": "005000000000002AAA", "ProfileId": "00e000000000002AAA", "Username": "alice@example.com"}
ORG_ID = "00D000000000001AAA"


class FakeOrg:
    """Users, one hierarchy setting's records and an ApexTrigger list; records every write it receives."""

    def __init__(self, triggers: list[dict[str, Any]], setting: str = "Integration_Bypass__c") -> None:
        self.users = [INTEGRATION, HUMAN]
        self.setting = setting
        self.records: list[dict[str, Any]] = []
        self.triggers = triggers
        self.writes: list[tuple[str, str | None, dict[str, Any]]] = []
        self._ids = (f"a0B00000000000{n:04d}" for n in itertools.count(1))
        self.fail_with: BridgeError | None = None

    async def query(self, soql: str) -> AsyncIterator[dict[str, Any]]:
        if self.fail_with is not None:
            raise self.fail_with
        if "FROM User WHERE Username = " in soql:
            username = soql.rsplit("=", 1)[1].strip().strip("'")
            rows = [u for u in self.users if u["Username"] == username]
        elif soql.endswith(f"FROM {self.setting}"):
            rows = self.records
        else:
            raise InvalidRequest("MALFORMED_QUERY", f"the fake does not answer {soql!r}")
        for row in rows:
            yield dict(row)

    async def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        assert soql == "SELECT Name, TableEnumOrId, Status FROM ApexTrigger"
        return [dict(t) for t in self.triggers]

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> str:
        assert sobject == self.setting
        if any(r["SetupOwnerId"] == fields["SetupOwnerId"] for r in self.records):
            raise InvalidRequest("FIELD_INTEGRITY_EXCEPTION", "There is already an item in this list")
        record = {"Id": next(self._ids), **fields}
        self.records.append(record)
        self.writes.append(("create", None, dict(fields)))
        return str(record["Id"])

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        assert sobject == self.setting
        (record,) = [r for r in self.records if r["Id"] == record_id]
        record.update(fields)
        self.writes.append(("update", record_id, dict(fields)))

    @asynccontextmanager
    async def connect(self, _settings: object) -> AsyncIterator[FakeOrg]:
        """A client factory for the CLI: the org itself."""
        yield self
