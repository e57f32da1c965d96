"""Reading the org: which objects, what the Tooling API adds, and what happens when the org refuses a call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.catalog.discovery import Selection, candidates, is_associated
from bridge.catalog.fetch import SalesforceOrgReader, fetch_org, fetch_snapshot, parse_record_counts
from bridge.catalog.model import build_org
from bridge.catalog.snapshot import OrgSnapshot, load_snapshot, read_snapshot, write_snapshot
from bridge.emulator import Org as EmulatedOrg
from bridge.emulator import load_profile
from bridge.salesforce.errors import InvalidRequest, NotFound
from tests.catalog.conftest import Recorder, client_of, context_for

STANDARD_WITH_DATA = {"Account", "Contact", "Opportunity", "Case"}
STANDARD_REFERENCED_BY_CUSTOM = {"Product2", "Asset"}
STANDARD_LEFT_OUT = {"Pricebook2", "Lead", "Campaign", "Order"}


def test_every_custom_object_and_the_standard_ones_that_matter(messy_snapshot: OrgSnapshot) -> None:
    profile = load_profile("messy")
    custom = {name for name, spec in profile.objects.items() if spec.custom}
    assert set(messy_snapshot.describes) == custom | STANDARD_WITH_DATA | STANDARD_REFERENCED_BY_CUSTOM
    assert set(messy_snapshot.facts.left_out) == STANDARD_LEFT_OUT
    assert messy_snapshot.facts.record_counts["Account"] == 4
    assert {e["name"] for e in messy_snapshot.facts.sobjects} == set(messy_snapshot.describes)


def test_rules_and_triggers_of_custom_objects_are_found_by_their_entity_id(messy_snapshot: OrgSnapshot) -> None:
    # TableEnumOrId of a custom object's trigger is the CustomObject id, not the API name.
    assert [t["Name"] for t in messy_snapshot.triggers["Invoice__c"]] == ["InvoiceTrigger"]
    assert {t["Name"] for t in messy_snapshot.triggers["Account"]} == {"AccountTrigger", "AccountScoring"}
    rules = {r["ValidationName"]: r for r in messy_snapshot.validation_rules["Shipment__c"]}
    assert "VLOOKUP" in rules["Shipment_Warehouse_City_Known"]["Metadata"]["errorConditionFormula"]
    definitions = {d["QualifiedApiName"]: d for d in messy_snapshot.field_definitions["Invoice__c"]}
    assert definitions["Amount__c"]["Description"] == "Net amount of the invoice."
    assert {m["SelectedEntity"] for m in messy_snapshot.facts.channel_members} >= {"Invoice__ChangeEvent"}


async def test_include_exclude_and_named_objects() -> None:
    org = EmulatedOrg(load_profile("messy"))
    async with client_of(org) as client:
        reader = SalesforceOrgReader(client)
        widened = await fetch_org(reader, Selection(include=("lead", "Price*"), exclude=("*__e", "support_*")))
        progress = Recorder()
        named = await fetch_org(reader, Selection(), progress, names=["Invoice__c", "Account"])
    assert {"Lead", "Pricebook2"} <= set(widened.describes)
    assert "Shipment_Event__e" not in widened.describes
    assert "support_ticket__c" not in widened.describes
    assert set(named.describes) == {"Account", "Invoice__c"}
    assert progress.items[:2] == ["Account", "Invoice__c"]
    assert progress.total == len(progress.items) == 2 + len(named.validation_rules["Account"]) + 1
    with pytest.raises(NotFound):
        async with client_of(org) as client:
            await fetch_org(SalesforceOrgReader(client), Selection(), names=["Nope__c"])
    with pytest.raises(ValueError, match="not an API name"):
        async with client_of(org) as client:
            await fetch_org(SalesforceOrgReader(client), Selection(), names=["Account' OR Name != '"])


def test_associated_and_hidden_objects_are_never_candidates() -> None:
    entries: list[dict[str, Any]] = [
        {"name": "Account", "custom": False},
        {
            "name": "AccountHistory",
            "custom": False,
            "associateEntityType": "History",
            "associateParentEntity": "Account",
        },
        {"name": "Invoice__Share", "custom": True},
        {"name": "Invoice__ChangeEvent", "custom": True},
        {"name": "Old__c", "custom": True, "deprecatedAndHidden": True},
        {"name": "Invoice__c", "custom": True},
        {"name": "Config__mdt", "custom": True},
    ]
    assert candidates(entries, Selection(exclude=("*__MDT",))) == (["Invoice__c"], ["Account"])
    assert is_associated({"name": "AccountChangeEvent"})
    assert not is_associated({"name": "Account"})


def test_record_counts_tolerate_odd_rows() -> None:
    body = {"sObjects": [{"count": 3, "name": "Account"}, {"count": "x", "name": "Bad"}, "junk", {"name": "NoCount"}]}
    assert parse_record_counts(body) == {"Account": 3}
    assert parse_record_counts(["not", "an", "object"]) == {}


class Refusing:
    """An org reader that refuses the documentation-only Tooling objects, as an org without the permission does."""

    def __init__(self, inner: SalesforceOrgReader, refused: tuple[str, ...]) -> None:
        self.inner = inner
        self.refused = refused

    async def describe(self, sobject: str) -> Mapping[str, Any]:
        return await self.inner.describe(sobject)

    async def describe_global(self) -> Mapping[str, Any]:
        return await self.inner.describe_global()

    async def record_counts(self) -> Mapping[str, int]:
        if "recordCount" in self.refused:
            raise InvalidRequest("INSUFFICIENT_ACCESS", "no View Setup and Configuration")
        return await self.inner.record_counts()

    async def tooling_query(self, soql: str) -> Sequence[Mapping[str, Any]]:
        if any(f"FROM {entity}" in soql for entity in self.refused):
            raise InvalidRequest("INVALID_TYPE", "sObject type is not supported")
        return await self.inner.tooling_query(soql)


async def test_refused_documentation_calls_become_notes_not_failures() -> None:
    refused = ("FieldDefinition", "CustomObject", "PlatformEventChannelMember", "recordCount")
    async with client_of(EmulatedOrg(load_profile("messy"))) as client:
        snapshot = await fetch_org(Refusing(SalesforceOrgReader(client), refused), Selection(include=("*",)))
    assert len(snapshot.facts.notes) == 4
    assert any(note.startswith("field descriptions (FieldDefinition) unavailable") for note in snapshot.facts.notes)
    org = build_org(snapshot, context_for(None))
    invoice = org.objects["Invoice__c"]
    assert (invoice.record_count, invoice.cdc, invoice.description) == (None, None, None)
    assert not invoice.field_descriptions_known
    assert not invoice.description_known
    assert len(org.objects) == len(load_profile("messy").objects)  # --include '*': every object, data or not


async def test_snapshot_round_trips_with_the_org_facts(messy_snapshot: OrgSnapshot, tmp_path: Path) -> None:
    write_snapshot(tmp_path, messy_snapshot)
    assert read_snapshot(tmp_path) == messy_snapshot
    assert load_snapshot(tmp_path).objects["Invoice_Line__c"].fields["Invoice__c"].reference_to == ("Invoice__c",)
    (tmp_path / "org.json").write_text("{not json")
    with pytest.raises(Exception, match="cannot read"):
        read_snapshot(tmp_path)


async def test_validation_snapshot_of_named_objects_is_unchanged_in_shape() -> None:
    async with client_of(EmulatedOrg()) as client:
        snapshot = await fetch_snapshot(client, ["Opportunity", "Account", "Invoice__c"])
    assert snapshot.validation_rules["Account"][0]["Metadata"]["errorConditionFormula"]
    assert snapshot.triggers["Invoice__c"] == []
    assert {t["Name"] for t in snapshot.triggers["Opportunity"]} == {"OpportunityTrigger", "OpportunityRollupTrigger"}
    assert snapshot.facts.sobjects == ()
