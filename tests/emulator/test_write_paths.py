"""Composite Graph, sObject Tree, duplicate rules, merge, undelete and Platform Events over Collections.

Each case quotes the documentation it follows; `tests/emulator/test_conformance.py` runs the same paths
through simple-salesforce over HTTPS.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.emulator import Org
from bridge.emulator.pubsub_feed import ALL_CHANGES
from tests.emulator.conftest import API, Login
from tests.emulator.test_changes import events

pytestmark = pytest.mark.timeout(30)
GRAPH = f"{API}/composite/graph"
HALTED = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same transaction failed.",
}


def _opportunity(account_ref: str, **extra: Any) -> dict[str, Any]:
    return {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": account_ref, **extra}


def _graph(graph_id: str, account: str, *, close_date: bool = True) -> dict[str, Any]:
    opportunity = _opportunity("@{account.id}")
    if not close_date:
        del opportunity["CloseDate"]
    return {
        "graphId": graph_id,
        "compositeRequest": [
            {
                "method": "PATCH",
                "url": f"{API}/sobjects/Account/External_Id__c/{account}",
                "referenceId": "account",
                "body": {"Name": account},
            },
            {"method": "POST", "url": f"{API}/sobjects/Opportunity", "referenceId": "deal", "body": opportunity},
        ],
    }


async def test_graph_each_graph_all_or_nothing(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    """ "Composite graphs also enable you to ensure that the steps in a given set of requests are either all
    completed or all not completed"; a failed graph's other nodes answer PROCESSING_HALTED."""
    body = {"graphs": [_graph("good", "G-1"), _graph("bad", "G-2", close_date=False)]}
    before = org.api_usage.used()
    response = await http.post(GRAPH, json=body, headers=auth)
    assert response.status_code == 200
    good, bad = response.json()["graphs"]
    assert (good["graphId"], good["isSuccessful"]) == ("good", True)
    account, deal = good["graphResponse"]["compositeResponse"]
    assert (account["httpStatusCode"], account["body"]["created"]) == (201, True)
    assert deal["httpStatusCode"] == 201
    assert org.get("Opportunity", deal["body"]["id"])["AccountId"] == account["body"]["id"]
    assert (bad["graphId"], bad["isSuccessful"]) == ("bad", False)
    halted, failed = bad["graphResponse"]["compositeResponse"]
    assert halted == {"body": [HALTED], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "account"}
    assert failed["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert org.by_external_id("Account", "External_Id__c", "G-2") is None  # rolled back with its graph
    assert org.api_usage.used() == before + 1  # "The entire request counts as a single call"


async def test_graph_limits_and_rules(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    """ "Maximum number of graphs in one payload: 75"; "Maximum number of nodes supported in one payload: 500";
    graphId "must be unique ... begin with an alphanumeric character ... less than 40 characters ... cannot
    contain a period"; only sObject record URLs are nodes."""
    too_many = {"graphs": [_graph(f"g{i}", f"L-{i}") for i in range(76)]}
    assert (await http.post(GRAPH, json=too_many, headers=auth)).json()[0]["errorCode"] == "INVALID_BATCH_REQUEST"
    nodes = [
        {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": f"a{i}", "body": {"Name": "x"}}
        for i in range(501)
    ]
    big = {"graphs": [{"graphId": "big", "compositeRequest": nodes}]}
    assert (await http.post(GRAPH, json=big, headers=auth)).status_code == 400
    query = {"method": "GET", "url": f"{API}/query?q=SELECT+Id+FROM+Account", "referenceId": "q"}
    odd = {
        "graphs": [{"graphId": "a.b", "compositeRequest": nodes[:1]}, {"graphId": "q1", "compositeRequest": [query]}]
    }
    dotted, queried = (await http.post(GRAPH, json=odd, headers=auth)).json()["graphs"]
    assert not dotted["isSuccessful"]
    assert "graphId" in dotted["graphResponse"]["compositeResponse"][0]["body"][0]["message"]
    assert not queried["isSuccessful"]
    assert org.count("Account") == 0


async def test_graph_halts_after_fourteen_failed_graphs(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """ "if the number of graph failures exceeds the maximum limit of 14, processing is halted for the remaining
    graphs in the request ... the status for the remaining graphs is shown as PROCESSING_HALTED." """
    graphs = [_graph(f"f{i}", f"F-{i}", close_date=False) for i in range(15)] + [_graph("late", "F-late")]
    answered = (await http.post(GRAPH, json={"graphs": graphs}, headers=auth)).json()["graphs"]
    assert [g["isSuccessful"] for g in answered] == [False] * 16
    late = answered[-1]["graphResponse"]["compositeResponse"]
    assert [node["body"] for node in late] == [[HALTED], [HALTED]]


async def test_tree_creates_nested_records(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    """ "Upon success, results contains the reference ID of each requested record and its new record ID";
    records are created per level, roots first."""
    body = {
        "records": [
            {
                "attributes": {"type": "Account", "referenceId": "ref1"},
                "Name": "Tree One",
                "Contacts": {
                    "records": [{"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Smith"}]
                },
                "Opportunities": {
                    "records": [{"attributes": {"type": "Opportunity", "referenceId": "ref3"}, **_opportunity("x")}]
                },
            },
            {"attributes": {"type": "Account", "referenceId": "ref4"}, "Name": "Tree Two"},
        ]
    }
    del body["records"][0]["Opportunities"]["records"][0]["AccountId"]
    response = await http.post(f"{API}/composite/tree/Account", json=body, headers=auth)
    assert response.status_code == 201
    answer = response.json()
    assert answer["hasErrors"] is False
    assert [r["referenceId"] for r in answer["results"]] == ["ref1", "ref4", "ref2", "ref3"]
    ids = {r["referenceId"]: r["id"] for r in answer["results"]}
    assert org.get("Contact", ids["ref2"])["AccountId"] == ids["ref1"]
    assert org.get("Opportunity", ids["ref3"])["AccountId"] == ids["ref1"]


async def test_tree_fails_as_a_whole(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    """ "If an error occurs while creating a record, the entire request fails. In this case, the response
    contains only the reference ID of the record that caused the error and the error information." """
    body = {
        "records": [
            {
                "attributes": {"type": "Account", "referenceId": "ref1"},
                "Name": "Fine",
                "Contacts": {
                    "records": [{"attributes": {"type": "Contact", "referenceId": "ref2"}, "Email": "not-an-email"}]
                },
            }
        ]
    }
    response = await http.post(f"{API}/composite/tree/Account", json=body, headers=auth)
    assert response.status_code == 400
    answer = response.json()
    assert answer["hasErrors"] is True
    assert [r["referenceId"] for r in answer["results"]] == ["ref2"]
    assert org.count("Account") == 0
    assert org.count("Contact") == 0
    twice = {"records": [{"attributes": {"type": "Account", "referenceId": "r"}, "Name": n} for n in ("A", "B")]}
    duplicated = (await http.post(f"{API}/composite/tree/Account", json=twice, headers=auth)).json()
    assert [r["referenceId"] for r in duplicated["results"]] == ["r", "r"]  # "one item for each instance"
    many = {"records": [{"attributes": {"type": "Account", "referenceId": f"r{i}"}, "Name": "A"} for i in range(201)]}
    assert (await http.post(f"{API}/composite/tree/Account", json=many, headers=auth)).status_code == 400


async def test_duplicate_rule_and_the_allow_save_header(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    """DUPLICATES_DETECTED with `duplicateResult.matchResults[].matchRecords[].record.Id`; `allowSave=true`
    in `Sforce-Duplicate-Rule-Header` "bypass[es] alerts and save[s] duplicate records"."""
    org.set_duplicate_rules(active=True)
    first = await http.post(f"{API}/sobjects/Account", json={"Name": "Dupe", "BillingCity": "Lyon"}, headers=auth)
    again = await http.post(f"{API}/sobjects/Account", json={"Name": " dupe", "BillingCity": "LYON"}, headers=auth)
    assert again.status_code == 400
    [problem] = again.json()
    assert problem["errorCode"] == "DUPLICATES_DETECTED"
    result = problem["duplicateResult"]
    assert result["allowSave"] is True
    assert result["duplicateRuleEntityType"] == "Account"
    assert [m["record"]["Id"] for m in result["matchResults"][0]["matchRecords"]] == [first.json()["id"]]
    other_city = await http.post(f"{API}/sobjects/Account", json={"Name": "Dupe", "BillingCity": "Bern"}, headers=auth)
    no_city = await http.post(f"{API}/sobjects/Account", json={"Name": "Dupe"}, headers=auth)
    assert (other_city.status_code, no_city.status_code) == (201, 201)  # a blank field never matches
    allowed = {**auth, "Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=true"}
    saved = await http.post(f"{API}/sobjects/Account", json={"Name": "Dupe", "BillingCity": "Lyon"}, headers=allowed)
    assert saved.status_code == 201
    records = [{"attributes": {"type": "Account"}, "External_Id__c": "D-9", "Name": "Dupe", "BillingCity": "Lyon"}]
    collection = await http.patch(
        f"{API}/composite/sobjects/Account/External_Id__c", json={"records": records}, headers=auth
    )
    [item] = collection.json()
    assert item["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert len(item["errors"][0]["duplicateResult"]["matchResults"][0]["matchRecords"]) == 2


async def test_merge_raises_delete_and_update_events(http: httpx.AsyncClient, org: Org) -> None:
    """A merge "fire[s] a single delete event for all records that are deleted in the merge" and "a single
    update event for the winning record"; "When a record is deleted after losing a merge operation, its
    MasterRecordId field is set to the ID of the winning record"; children are reparented."""
    [winner, loser] = org.insert_many("Account", [{"Name": "Winner"}, {"Name": "Loser"}])
    [child] = org.insert_many("Contact", [{"LastName": "Kid", "AccountId": loser["id"]}])
    merged = await http.post(
        "/__emulator__/merge",
        json={
            "sobject": "Account",
            "master_id": winner["id"],
            "merge_ids": [loser["id"]],
            "fields": {"Industry": "Energy"},
        },
    )
    assert merged.json() == {
        "id": winner["id"],
        "success": True,
        "errors": [],
        "mergedRecordIds": [loser["id"]],
        "updatedRelatedIds": [child["id"]],
    }
    assert org.get("Account", loser["id"])["MasterRecordId"] == winner["id"]
    assert org.get("Contact", child["id"])["AccountId"] == winner["id"]
    headers = [e["ChangeEventHeader"] for e in events(org)[-3:]]
    assert [(h["entityName"], h["changeType"], h["recordIds"]) for h in headers] == [
        ("Account", "DELETE", [loser["id"]]),
        ("Contact", "UPDATE", [child["id"]]),
        ("Account", "UPDATE", [winner["id"]]),
    ]
    assert len({h["transactionKey"] for h in headers}) == 1
    assert {h["changeOrigin"] for h in headers} == {"com/salesforce/api/soap/62.0;client=SfdcInternalAPI/"}
    assert {h["commitUser"] for h in headers} == {org.human_user().id}
    refused = await http.post(
        "/__emulator__/merge", json={"sobject": "Opportunity", "master_id": winner["id"], "merge_ids": [child["id"]]}
    )
    assert refused.status_code == 400


async def test_undelete_from_the_recycle_bin(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org, login: Login
) -> None:
    """queryAll "returns records that have been deleted because of a merge or delete"; an undeleted record's
    change event is UNDELETE with "All fields from the original record"; the Recycle Bin keeps 15 days."""
    url = f"{API}/sobjects/Account/External_Id__c/U-1"
    created = (await http.patch(url, json={"Name": "Undo", "Industry": "Energy"}, headers=auth)).json()
    await http.delete(url, headers=auth)
    query = {"q": "SELECT Id, IsDeleted FROM Account WHERE External_Id__c = 'U-1'"}
    assert (await http.get(f"{API}/query", params=query, headers=auth)).json()["totalSize"] == 0
    assert (await http.get(f"{API}/queryAll", params=query, headers=auth)).json()["records"][0]["IsDeleted"] is True
    restored = await http.post("/__emulator__/undelete", json={"ids": [created["id"]]})
    assert restored.json() == [{"id": created["id"], "success": True, "errors": []}]
    undelete = events(org)[-1]
    assert undelete["ChangeEventHeader"]["changeType"] == "UNDELETE"
    assert (undelete["Name"], undelete["Industry"], undelete["External_Id__c"]) == ("Undo", "Energy", "U-1")
    assert (await http.get(url, headers=auth)).json()["Name"] == "Undo"
    again = await http.post("/__emulator__/undelete", json={"ids": [created["id"]]})
    assert again.json()[0]["errors"][0]["statusCode"] == "UNDELETE_FAILED"
    await http.delete(url, headers=auth)
    org.clock.advance(15 * 24 * 3600 + 1)
    auth = await login()  # the session expired meanwhile
    assert (await http.get(f"{API}/queryAll", params=query, headers=auth)).json()["totalSize"] == 0  # purged
    gone = await http.post("/__emulator__/undelete", json={"ids": [created["id"]]})
    assert gone.json()[0]["success"] is False


async def test_undelete_refuses_an_external_id_taken_meanwhile(http: httpx.AsyncClient, org: Org) -> None:
    [old] = org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "X-1", "Name": "Old"}])
    org.delete_many([old["id"]])
    org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "X-1", "Name": "New"}])
    answer = (await http.post("/__emulator__/undelete", json={"ids": [old["id"]]})).json()
    assert answer[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


async def test_platform_events_over_collections_and_composite(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    """ "Publish events by inserting events in the same way that you insert sObjects"; "the OPERATION_ENQUEUED
    status code is returned for a successful call in the response's error field, in addition to the event UUID";
    "To publish multiple platform event messages in one REST API request, use the composite resource." """
    records = [
        {"attributes": {"type": "Order_Event__e"}, "Order_Number__c": "O-1", "Status__c": "Shipped"},
        {"attributes": {"type": "Order_Event__e"}, "Order_Number__c": "O-2", "Status__c": "Shipped"},
    ]
    answer = (await http.post(f"{API}/composite/sobjects", json={"records": records}, headers=auth)).json()
    assert [item["errors"][0]["statusCode"] for item in answer] == ["OPERATION_ENQUEUED"] * 2
    assert org.feed.count("/event/Order_Event__e") == 2
    assert org.count("Order_Event__e") == 0  # events are published, not stored as records
    composite = {
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{API}/sobjects/Order_Event__e",
                "referenceId": f"e{i}",
                "body": {"Order_Number__c": f"C-{i}"},
            }
            for i in range(2)
        ]
    }
    responses = (await http.post(f"{API}/composite", json=composite, headers=auth)).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in responses] == [201, 201]
    assert org.feed.count("/event/Order_Event__e") == 4
    mixed = [*records[:1], {"attributes": {"type": "Account"}, "Industry": "Energy"}]
    rolled = (
        await http.post(f"{API}/composite/sobjects", json={"allOrNone": True, "records": mixed}, headers=auth)
    ).json()
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.feed.count("/event/Order_Event__e") == 4  # not published when the request rolled back
    assert org.feed.count(ALL_CHANGES) == 0
