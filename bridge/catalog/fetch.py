"""Reading an org's metadata into an `OrgSnapshot`: describe per SObject, then the Tooling API.

The Tooling API returns `Metadata` (which holds a rule's `errorConditionFormula`) only when a query matches at
most one row, so rules are listed first and then read one by one.

    snapshot = await fetch_snapshot(sf, ["Account", "Opportunity"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from bridge.catalog.snapshot import OrgSnapshot

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_RULE_FIELDS = "Id, ValidationName, Active, ErrorDisplayField, ErrorMessage, EntityDefinition.QualifiedApiName"
_TRIGGER_FIELDS = (
    "Id, Name, TableEnumOrId, Status, IsValid, ApiVersion, Body, UsageBeforeInsert, UsageAfterInsert, "
    "UsageBeforeUpdate, UsageAfterUpdate, UsageBeforeDelete, UsageAfterDelete, UsageAfterUndelete"
)


class OrgReader(Protocol):
    """The two calls the catalog needs from a Salesforce client."""

    async def describe(self, sobject: str) -> Mapping[str, Any]: ...

    async def tooling_query(self, soql: str) -> Sequence[Mapping[str, Any]]: ...


def _quoted(name: str) -> str:
    if not _API_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an API name")
    return f"'{name}'"


async def fetch_rules(reader: OrgReader, sobject: str) -> list[Mapping[str, Any]]:
    """Every ValidationRule of `sobject` with its `Metadata` (one query per rule)."""
    soql = f"SELECT {_RULE_FIELDS} FROM ValidationRule WHERE EntityDefinition.QualifiedApiName = {_quoted(sobject)}"  # noqa: S608 - quoted API name
    listed = await reader.tooling_query(soql)
    rules: list[Mapping[str, Any]] = []
    for row in listed:
        rule_id = str(row["Id"])
        if not _RECORD_ID.fullmatch(rule_id):
            raise ValueError(f"unexpected ValidationRule Id {rule_id!r}")
        detail = await reader.tooling_query(
            f"SELECT {_RULE_FIELDS}, Metadata FROM ValidationRule WHERE Id = '{rule_id}'"  # noqa: S608 - checked Id
        )
        rules.extend(detail or [row])
    return rules


async def fetch_snapshot(reader: OrgReader, sobjects: Iterable[str]) -> OrgSnapshot:
    """Describe, validation rules and triggers of each SObject."""
    describes: dict[str, Mapping[str, Any]] = {}
    rules: dict[str, list[Mapping[str, Any]]] = {}
    triggers: dict[str, list[Mapping[str, Any]]] = {}
    names = sorted(set(sobjects))
    for name in names:
        _quoted(name)  # refuse a bad name before any call
    for sobject in names:
        describes[sobject] = await reader.describe(sobject)
        rules[sobject] = await fetch_rules(reader, sobject)
        soql = f"SELECT {_TRIGGER_FIELDS} FROM ApexTrigger WHERE TableEnumOrId = {_quoted(sobject)}"  # noqa: S608
        triggers[sobject] = list(await reader.tooling_query(soql))
    return OrgSnapshot(describes, rules, triggers)
