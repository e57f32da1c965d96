"""Change events on the Pub/Sub feed: one per committed change, header fields, changeOrigin, merged ids."""

from __future__ import annotations

from typing import Any

import fastavro
import httpx
import orjson
import pytest

from bridge.emulator import Org
from bridge.emulator.pubsub_feed import ALL_CHANGES
from bridge.pubsub.avro import decode_payload
from bridge.pubsub.bitmaps import decode_bitmap
from tests.emulator.conftest import API

pytestmark = pytest.mark.timeout(30)


def events(org: Org, channel: str = ALL_CHANGES) -> list[dict[str, Any]]:
    out = []
    for event in org.feed.read_after(channel, 0, 1000):
        schema = orjson.loads(org.feed.schema_json(event.schema_id) or "{}")
        decoded = decode_payload(fastavro.parse_schema(schema), event.payload)
        header = decoded["ChangeEventHeader"]
        header["changedFields"] = decode_bitmap(schema, header["changedFields"])
        header["nulledFields"] = decode_bitmap(schema, header["nulledFields"])
        out.append(decoded)
    return out


async def test_create_update_delete_events_with_origin(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    url = f"{API}/sobjects/Account/External_Id__c/C-1"
    created = (await http.patch(url, json={"Name": "Acme", "Phone": "555 0100"}, headers=auth)).json()
    await http.patch(url, json={"Phone": None, "Industry": "Energy"}, headers=auth)
    await http.delete(url, headers=auth)
    create, update, delete = events(org)
    headers = [e["ChangeEventHeader"] for e in (create, update, delete)]
    assert [h["changeType"] for h in headers] == ["CREATE", "UPDATE", "DELETE"]
    assert {h["changeOrigin"] for h in headers} == {"com/salesforce/api/rest/62.0;client=bridge-test"}
    assert all(h["recordIds"] == [created["id"]] for h in headers)
    assert all(h["entityName"] == "Account" for h in headers)
    assert all(h["commitUser"] == org.user().id for h in headers)
    assert create["Name"] == "Acme"
    assert create["External_Id__c"] == "C-1"
    assert {"Phone", "Industry", "LastModifiedDate"} <= set(headers[1]["changedFields"])
    assert headers[1]["nulledFields"] == ["Phone"]
    assert update["Industry"] == "Energy"
    assert len({h["transactionKey"] for h in headers}) == 3


async def test_origin_without_client(http: httpx.AsyncClient, org: Org) -> None:
    token = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    await http.post(
        f"{API}/sobjects/Account",
        json={"Name": "No client"},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    [event] = events(org)
    assert event["ChangeEventHeader"]["changeOrigin"] == "com/salesforce/api/rest/62.0"


def test_one_transaction_shares_a_key_and_numbers_its_events() -> None:
    org = Org()
    [parent] = org.insert_many("Account", [{"Name": "P"}])
    opps = [
        {"Name": f"O{i}", "StageName": "Proposal", "CloseDate": "2026-01-01", "Amount": 1, "AccountId": parent["id"]}
        for i in range(2)
    ]
    org.insert_many("Opportunity", opps, client="loader")
    tx_events = [e["ChangeEventHeader"] for e in events(org)][1:]
    assert [h["entityName"] for h in tx_events] == ["Opportunity", "Opportunity", "Account"]
    assert len({h["transactionKey"] for h in tx_events}) == 1
    assert [h["sequenceNumber"] for h in tx_events] == [1, 2, 3]
    assert tx_events[2]["changedFields"][0] in {"Total_Opportunity_Amount__c", "LastModifiedDate"}
    assert tx_events[2]["changeOrigin"].endswith(";client=loader")


def test_identical_updates_share_one_event() -> None:
    org = Org()
    ids = [r["id"] for r in org.insert_many("Account", [{"Name": "A"}, {"Name": "B"}, {"Name": "C"}])]
    org.update_many("Account", [{"Id": i, "Industry": "Retail"} for i in ids])
    last = events(org)[-1]["ChangeEventHeader"]
    assert last["changeType"] == "UPDATE"
    assert last["recordIds"] == ids


def test_failed_saves_publish_nothing_and_settings_are_not_tracked() -> None:
    org = Org()
    org.insert_many("Account", [{"Name": "ok"}, {"Industry": "Energy"}], all_or_none=True)
    assert events(org) == []
    assert not org.feed.topic_exists("/data/Integration_Bypass__ChangeEvent")


async def test_platform_event_published_through_rest(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    response = await http.post(
        f"{API}/sobjects/Order_Event__e", json={"Order_Number__c": "SO-1", "Amount__c": 9.5}, headers=auth
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["errors"][0]["statusCode"] == "OPERATION_ENQUEUED"
    [event] = org.feed.read_after("/event/Order_Event__e", 0, 10)
    assert event.event_id == body["errors"][0]["message"]
    schema = orjson.loads(org.feed.schema_json(event.schema_id) or "{}")
    decoded = decode_payload(fastavro.parse_schema(schema), event.payload)
    assert decoded["Order_Number__c"] == "SO-1"
    assert decoded["Amount__c"] == 9.5
    assert decoded["CreatedById"] == org.user().id
    missing = await http.post(f"{API}/sobjects/Order_Event__e", json={"Status__c": "x"}, headers=auth)
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
