"""The metadata the catalog reads, served as Salesforce serves it: describe with relationships, record counts,
FieldDefinition descriptions and Change Data Capture selections; checked in-process and with simple-salesforce."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import click
import httpx
import pytest
import requests
from simple_salesforce import Salesforce

from bridge.cli.emulator import ServeOptions, build_org
from bridge.emulator import EmulatorServer, Org, create_app, load_profile
from bridge.emulator.profile import ProfileError, bundled_profiles
from tests.emulator.conftest import API, INTEGRATION

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def messy() -> Org:
    return Org(load_profile("messy"))


@pytest.fixture
async def api(messy: Org) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(messy))
    async with httpx.AsyncClient(transport=transport, base_url="https://emulator.test") as client:
        token = await client.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": INTEGRATION[0], "client_secret": INTEGRATION[1]},
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def tooling(api: httpx.AsyncClient, soql: str) -> list[dict[str, Any]]:
    response = await api.get(f"{API}/tooling/query", params={"q": soql})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def fields_of(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


async def test_the_messy_profile_is_a_larger_org_with_every_kind_of_object(messy: Org) -> None:
    assert {"default", "messy"} <= set(bundled_profiles())
    objects = messy.profile.objects.values()
    assert len(messy.profile.objects) >= 30
    assert sum(1 for o in objects if not o.custom) >= 8
    assert any(o.custom_setting for o in objects)
    assert any(o.platform_event for o in objects)
    assert 0 < sum(1 for o in objects if o.change_events) < len(messy.profile.objects) / 2
    assert messy.count("Account") == 4
    assert messy.count("Lead") == 0


async def test_describe_reports_master_detail_and_cascade_delete(api: httpx.AsyncClient) -> None:
    listing = (await api.get(f"{API}/sobjects")).json()["sobjects"]
    assert all(entry["associateEntityType"] is None for entry in listing)
    stock = fields_of((await api.get(f"{API}/sobjects/Stock_Level__c/describe")).json())
    assert (stock["Warehouse__c"]["relationshipOrder"], stock["Product__c"]["relationshipOrder"]) == (0, 1)
    assert stock["Warehouse__c"]["cascadeDelete"] is True
    assert stock["Warehouse__c"]["nillable"] is False
    shipment = fields_of((await api.get(f"{API}/sobjects/Shipment__c/describe")).json())
    assert shipment["Warehouse__c"]["relationshipOrder"] is None
    assert shipment["Warehouse__c"]["cascadeDelete"] is False
    invoice = (await api.get(f"{API}/sobjects/Invoice__c/describe")).json()
    children = {(c["childSObject"], c["field"]): c for c in invoice["childRelationships"]}
    lines = children[("Invoice_Line__c", "Invoice__c")]
    assert lines["relationshipName"] == "Lines__r"
    assert lines["cascadeDelete"] is True
    assert (lines["junctionIdListNames"], lines["junctionReferenceTo"]) == ([], [])
    account = fields_of((await api.get(f"{API}/sobjects/Account/describe")).json())
    assert account["Customer_Tier__c"]["inlineHelpText"] == "Gold, Silver or Bronze: decides the support SLA."
    assert account["Name"]["inlineHelpText"] is None
    assert "description" not in account["ERP_Customer_Id__c"]  # descriptions come from the Tooling API only


async def test_record_counts_follow_the_records_and_ignore_unknown_names(api: httpx.AsyncClient) -> None:
    every = (await api.get(f"{API}/limits/recordCount")).json()["sObjects"]
    counts = {row["name"]: row["count"] for row in every}
    assert counts["Account"] == 4
    assert "Shipment_Event__e" not in counts  # platform events hold no records
    some = await api.get(f"{API}/limits/recordCount", params={"sObjects": "account,Nope__c,Invoice__c"})
    assert some.json() == {"sObjects": [{"count": 4, "name": "Account"}, {"count": 2, "name": "Invoice__c"}]}
    created = await api.post(f"{API}/sobjects/Account", json={"Name": "Count me", "Customer_Tier__c": "Gold"})
    assert created.status_code == 201, created.text
    deleted = await api.delete(f"{API}/sobjects/Account/{created.json()['id']}")
    assert deleted.status_code == 204
    again = (await api.get(f"{API}/limits/recordCount", params={"sObjects": "Account"})).json()
    assert again == {"sObjects": [{"count": 4, "name": "Account"}]}


async def test_field_descriptions_come_from_field_definition(api: httpx.AsyncClient) -> None:
    rows = await tooling(
        api,
        "SELECT QualifiedApiName, EntityDefinition.QualifiedApiName, Description, DataType FROM FieldDefinition "
        "WHERE EntityDefinition.QualifiedApiName IN ('Account', 'Invoice_Line__c')",
    )
    by_name = {(r["EntityDefinition"]["QualifiedApiName"], r["QualifiedApiName"]): r for r in rows}
    assert by_name[("Account", "ERP_Customer_Id__c")]["Description"].startswith("The ERP's customer number")
    assert by_name[("Account", "Region__c")]["Description"] is None
    assert by_name[("Account", "Name")]["DataType"] == "Text(255)"
    assert by_name[("Invoice_Line__c", "Invoice__c")]["DataType"] == "Master-Detail(Invoice)"
    assert {entity for entity, _ in by_name} == {"Account", "Invoice_Line__c"}
    help_rows = await tooling(
        api, "SELECT DeveloperName, InlineHelpText FROM CustomField WHERE DeveloperName = 'Customer_Tier'"
    )
    assert help_rows[0]["InlineHelpText"].startswith("Gold, Silver or Bronze")


async def test_change_data_capture_selections_are_channel_members(api: httpx.AsyncClient, messy: Org) -> None:
    rows = await tooling(
        api, "SELECT DeveloperName, SelectedEntity FROM PlatformEventChannelMember WHERE EventChannel = 'ChangeEvents'"
    )
    selected = {r["SelectedEntity"] for r in rows}
    tracked = {o.name for o in messy.profile.objects.values() if o.change_events}
    assert selected == {"AccountChangeEvent", "OpportunityChangeEvent", "Invoice__ChangeEvent",
                        "Sales_Order__ChangeEvent", "Shipment__ChangeEvent"}  # fmt: skip
    assert tracked == {"Account", "Opportunity", "Invoice__c", "Sales_Order__c", "Shipment__c"}
    assert "ChangeEvents_Invoice_ChangeEvent" in {r["DeveloperName"] for r in rows}
    refused = await api.get(f"{API}/tooling/query", params={"q": "SELECT Metadata FROM PlatformEventChannelMember"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_the_cli_serves_bundled_profiles_by_name() -> None:
    options = ServeOptions("127.0.0.1", 0, "messy", None, 0.0, 0.0, False, None, None, None, 0.0, 0)
    assert build_org(options).profile.org_name == "Emulated Messy Org"
    with pytest.raises(click.ClickException, match="bundled: default, messy"):
        build_org(ServeOptions("127.0.0.1", 0, "tidy", None, 0.0, 0.0, False, None, None, None, 0.0, 0))
    with pytest.raises(ProfileError, match="no bundled org profile"):
        load_profile("tidy")


async def test_simple_salesforce_reads_the_catalog_metadata(messy: Org) -> None:
    async with EmulatorServer(messy, tls=True) as server:

        def work() -> dict[str, Any]:
            session = requests.Session()
            session.trust_env = False
            session.verify = str(server.certfile)
            token = session.post(
                f"{server.url}/services/oauth2/token",
                data={"grant_type": "client_credentials", "client_id": INTEGRATION[0], "client_secret": INTEGRATION[1]},
                timeout=10,
            ).json()
            sf = Salesforce(
                instance_url=token["instance_url"], session_id=token["access_token"], version="62.0", session=session
            )
            try:
                soql = "SELECT SelectedEntity FROM PlatformEventChannelMember WHERE EventChannel = 'ChangeEvents'"
                return {
                    "global": sf.describe(),
                    "payment": sf.Payment__c.describe(),
                    "counts": sf.restful("limits/recordCount", params={"sObjects": "Account,Contact"}),
                    "cdc": sf.toolingexecute("query/?q=" + urllib.parse.quote(soql)),
                }
            finally:
                session.close()

        answers = await asyncio.to_thread(work)
    assert len(answers["global"]["sobjects"]) == len(messy.profile.objects)
    invoice_field = fields_of(answers["payment"])["Invoice__c"]
    assert (invoice_field["cascadeDelete"], invoice_field["relationshipOrder"]) == (True, 0)
    assert {r["name"]: r["count"] for r in answers["counts"]["sObjects"]} == {"Account": 4, "Contact": 3}
    assert answers["cdc"]["totalSize"] == 5
