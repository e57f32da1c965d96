"""Reading an org's metadata into an `OrgSnapshot`: describe-global, record counts, describes, the Tooling API.

The Tooling API returns `Metadata` (which holds a rule's `errorConditionFormula`) only when a query matches at
most one row, so rules are listed first and then read one by one. Triggers are read in one query and matched to
their object by `TableEnumOrId`, which is the API name for standard objects and the CustomObject id for custom
ones. What only documents the org (field descriptions, object descriptions, CDC selections, record counts) is
read tolerantly: an org that refuses one of those calls gets a note in the snapshot, not a failed run.

    snapshot = await fetch_snapshot(sf, ["Account", "Opportunity"])        # what validation needs
    snapshot = await fetch_org(SalesforceOrgReader(sf), Selection())       # the whole org, for the catalog
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bridge.catalog.discovery import Selection, candidates, referenced, standard_worth_documenting
from bridge.catalog.snapshot import OrgFacts, OrgSnapshot
from bridge.salesforce.errors import InvalidRequest
from bridge.salesforce.responses import json_body

if TYPE_CHECKING:
    from bridge.salesforce import SalesforceClient

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_CHUNK = 50  # objects per IN (...) list: keeps the query URL short on orgs with hundreds of objects
_RULE_FIELDS = "Id, ValidationName, Active, ErrorDisplayField, ErrorMessage, EntityDefinition.QualifiedApiName"
_TRIGGER_FIELDS = (
    "Id, Name, TableEnumOrId, Status, IsValid, ApiVersion, Body, UsageBeforeInsert, UsageAfterInsert, "
    "UsageBeforeUpdate, UsageAfterUpdate, UsageBeforeDelete, UsageAfterDelete, UsageAfterUndelete"
)
_FIELD_DEFINITIONS = (
    "SELECT QualifiedApiName, EntityDefinition.QualifiedApiName, Description FROM FieldDefinition "
    "WHERE EntityDefinition.QualifiedApiName IN "
)
_CUSTOM_OBJECTS = "SELECT Id, DeveloperName, NamespacePrefix, Description FROM CustomObject"
_CHANNEL_MEMBERS = "SELECT Id, DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember"


class MetadataReader(Protocol):
    """The two calls validation's snapshot needs from a Salesforce client."""

    async def describe(self, sobject: str) -> Mapping[str, Any]: ...

    async def tooling_query(self, soql: str) -> Sequence[Mapping[str, Any]]: ...


class OrgReader(MetadataReader, Protocol):
    """What documenting a whole org needs besides: describe-global and the record counts."""

    async def describe_global(self) -> Mapping[str, Any]: ...

    async def record_counts(self) -> Mapping[str, int]: ...


class FetchProgress(Protocol):
    """Told how many objects will be described (the number can grow) and each time one is."""

    def planned(self, total: int) -> None: ...

    def done(self, item: str) -> None: ...


class _Quiet:
    def planned(self, total: int) -> None:
        del total

    def done(self, item: str) -> None:
        del item


class SalesforceOrgReader:
    """An `OrgReader` over the bridge's `SalesforceClient` (record counts from `/limits/recordCount`)."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"SalesforceOrgReader({self._client!r})"

    async def describe(self, sobject: str) -> Mapping[str, Any]:
        return await self._client.describe(sobject)

    async def describe_global(self) -> Mapping[str, Any]:
        return await self._client.describe_global()

    async def tooling_query(self, soql: str) -> Sequence[Mapping[str, Any]]:
        return await self._client.tooling_query(soql)

    async def record_counts(self) -> Mapping[str, int]:
        """Every object's (approximate) record count, in one call."""
        response = await self._client.request("limits", "GET", f"{self._client.base_path}/limits/recordCount")
        return parse_record_counts(json_body(response))


def parse_record_counts(body: Any) -> dict[str, int]:
    """`{"sObjects": [{"count": 3, "name": "Account"}]}` as `{"Account": 3}`; malformed rows are skipped."""
    rows = body.get("sObjects") if isinstance(body, Mapping) else None
    counts: dict[str, int] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping) and isinstance(row.get("name"), str) and isinstance(row.get("count"), int):
            counts[row["name"]] = row["count"]
    return counts


def _quoted(name: str) -> str:
    if not _API_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an API name")
    return f"'{name}'"


def _in_list(names: Sequence[str]) -> str:
    return "(" + ", ".join(_quoted(n) for n in names) + ")"


def _chunks(names: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(names), _CHUNK):
        yield names[start : start + _CHUNK]


async def fetch_rules(reader: MetadataReader, sobject: str) -> list[Mapping[str, Any]]:
    """Every ValidationRule of `sobject` with its `Metadata` (one query per rule)."""
    return (await _rules(reader, [sobject], _Quiet())).get(sobject, [])


async def _rules(
    reader: MetadataReader, names: Sequence[str], progress: FetchProgress
) -> dict[str, list[Mapping[str, Any]]]:
    listed: list[Mapping[str, Any]] = []
    for chunk in _chunks(names):
        soql = f"SELECT {_RULE_FIELDS} FROM ValidationRule WHERE EntityDefinition.QualifiedApiName IN {_in_list(chunk)}"  # noqa: S608 - quoted API names
        listed.extend(await reader.tooling_query(soql))
    progress.planned(len(listed))
    rules: dict[str, list[Mapping[str, Any]]] = {name: [] for name in names}
    for row in listed:
        rule_id = str(row["Id"])
        if not _RECORD_ID.fullmatch(rule_id):
            raise ValueError(f"unexpected ValidationRule Id {rule_id!r}")
        detail = await reader.tooling_query(
            f"SELECT {_RULE_FIELDS}, Metadata FROM ValidationRule WHERE Id = '{rule_id}'"  # noqa: S608 - checked Id
        )
        entity = (row.get("EntityDefinition") or {}).get("QualifiedApiName")
        rules.setdefault(str(entity), []).extend(detail or [row])
        progress.done(str(row.get("ValidationName") or rule_id))
    return rules


async def _entity_ids(reader: MetadataReader, names: Sequence[str]) -> dict[str, str]:
    """Custom objects' durable ids (the first 15 characters of their CustomObject id) → API names."""
    ids: dict[str, str] = {}
    for chunk in _chunks([n for n in names if n.endswith("__c")]):
        soql = f"SELECT DurableId, QualifiedApiName FROM EntityDefinition WHERE QualifiedApiName IN {_in_list(chunk)}"  # noqa: S608
        for row in await reader.tooling_query(soql):
            ids[str(row.get("DurableId"))[:15]] = str(row.get("QualifiedApiName"))
    return ids


async def _triggers(reader: MetadataReader, names: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
    rows = await reader.tooling_query(f"SELECT {_TRIGGER_FIELDS} FROM ApexTrigger")  # noqa: S608 - constant
    wanted = set(names)
    by_id = await _entity_ids(reader, names) if any(str(r.get("TableEnumOrId")) not in wanted for r in rows) else {}
    triggers: dict[str, list[Mapping[str, Any]]] = {name: [] for name in names}
    for row in rows:
        table = str(row.get("TableEnumOrId") or "")
        sobject = table if table in wanted else by_id.get(table[:15])
        if sobject in triggers:
            triggers[sobject].append(row)
    return triggers


async def _describe_all(
    reader: MetadataReader, names: Iterable[str], progress: FetchProgress
) -> dict[str, Mapping[str, Any]]:
    describes: dict[str, Mapping[str, Any]] = {}
    for name in names:
        describes[name] = await reader.describe(name)
        progress.done(name)
    return describes


async def fetch_snapshot(
    reader: MetadataReader, sobjects: Iterable[str], progress: FetchProgress | None = None
) -> OrgSnapshot:
    """Describe, validation rules and triggers of each SObject (what the processor validates against)."""
    tell = progress or _Quiet()
    names = sorted(set(sobjects))
    for name in names:
        _quoted(name)  # refuse a bad name before any call
    tell.planned(len(names))
    describes = await _describe_all(reader, names, tell)
    return OrgSnapshot(describes, await _rules(reader, names, tell), await _triggers(reader, names))


async def _tolerant(reader: MetadataReader, soql: str, what: str, notes: list[str]) -> list[Mapping[str, Any]] | None:
    """The query's rows, or None (and a note saying why) when the org refuses it."""
    try:
        return list(await reader.tooling_query(soql))
    except InvalidRequest as exc:
        notes.append(f"{what} unavailable: {exc}")
        return None


async def _field_definitions(
    reader: MetadataReader, names: Sequence[str], notes: list[str]
) -> dict[str, list[Mapping[str, Any]]]:
    definitions: dict[str, list[Mapping[str, Any]]] = {}
    for chunk in _chunks(names):
        soql = _FIELD_DEFINITIONS + _in_list(chunk)
        rows = await _tolerant(reader, soql, "field descriptions (FieldDefinition)", notes)
        if rows is None:
            return {}  # descriptions unknown, which is not the same as absent
        for row in rows:
            entity = str((row.get("EntityDefinition") or {}).get("QualifiedApiName"))
            definitions.setdefault(entity, []).append(row)
    return {name: definitions.get(name, []) for name in names}


async def _choose(
    reader: OrgReader, selection: Selection, progress: FetchProgress, facts: dict[str, Any]
) -> dict[str, Mapping[str, Any]]:
    """Describe the custom objects, then the standard ones that hold data, are referenced or asked for."""
    entries = list((await reader.describe_global()).get("sobjects") or [])
    custom, standard = candidates(entries, selection)
    for name in (*custom, *standard):
        _quoted(name)
    counts = facts["record_counts"]
    first = standard_worth_documenting(standard, counts, set(), selection)
    progress.planned(len(custom) + len(first))
    describes = await _describe_all(reader, [*custom, *first], progress)
    by_custom = referenced(describes[name] for name in custom)
    later = [n for n in standard_worth_documenting(standard, counts, by_custom, selection) if n not in describes]
    progress.planned(len(later))
    describes.update(await _describe_all(reader, later, progress))
    facts["sobjects"] = [e for e in entries if e.get("name") in describes]
    facts["left_out"] = [name for name in standard if name not in describes]
    return dict(sorted(describes.items()))


async def _named(
    reader: OrgReader, names: Sequence[str], progress: FetchProgress, facts: dict[str, Any]
) -> dict[str, Mapping[str, Any]]:
    for name in names:
        _quoted(name)
    entries = list((await reader.describe_global()).get("sobjects") or [])
    progress.planned(len(names))
    describes = await _describe_all(reader, sorted(set(names)), progress)
    facts["sobjects"] = [e for e in entries if e.get("name") in describes]
    return describes


async def fetch_org(
    reader: OrgReader,
    selection: Selection,
    progress: FetchProgress | None = None,
    names: Sequence[str] | None = None,
) -> OrgSnapshot:
    """The org as the catalog documents it: the objects `names`, or those `selection` picks from the whole org
    (see `bridge.catalog.discovery`)."""
    tell = progress or _Quiet()
    notes: list[str] = []
    try:
        counts = dict(await reader.record_counts())
    except InvalidRequest as exc:
        counts = {}
        notes.append(f"record counts unavailable: {exc}")
    facts: dict[str, Any] = {"record_counts": counts, "left_out": []}
    if names is None:
        describes = await _choose(reader, selection, tell, facts)
    else:
        describes = await _named(reader, names, tell, facts)
    documented = list(describes)
    rules = await _rules(reader, documented, tell)
    triggers = await _triggers(reader, documented)
    definitions = await _field_definitions(reader, documented, notes)
    custom_objects = await _tolerant(reader, _CUSTOM_OBJECTS, "object descriptions (CustomObject)", notes)
    cdc = "Change Data Capture selections (PlatformEventChannelMember)"
    members = await _tolerant(reader, _CHANNEL_MEMBERS, cdc, notes)
    org = OrgFacts(facts["sobjects"], counts, custom_objects or (), members or (), notes, facts["left_out"])
    return OrgSnapshot(describes, rules, triggers, definitions, org)
