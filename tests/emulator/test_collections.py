"""sObject Collections and Composite: per-record results, allOrNone rollback, limits on size, references."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.emulator import Org
from tests.emulator.conftest import API

pytestmark = pytest.mark.timeout(30)

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def account(ext: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "External_Id__c": ext, "Name": f"Account {ext}", **fields}


async def test_upsert_creates_then_updates_in_order(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    url = f"{API}/composite/sobjects/Account/External_Id__c"
    first = await http.patch(url, json={"records": [account("A-1"), account("A-2")]}, headers=auth)
    assert first.status_code == 200
    assert [r["created"] for r in first.json()] == [True, True]
    second = await http.patch(url, json={"records": [account("A-2", Industry="Energy"), account("A-3")]}, headers=auth)
    results = second.json()
    assert [r["created"] for r in results] == [False, True]
    assert results[0]["id"] == first.json()[1]["id"]
    assert org.by_external_id("Account", "External_Id__c", "A-2")["Industry"] == "Energy"
    assert org.count("Account") == 3


async def test_partial_success_without_all_or_none(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    records = [account("OK-1"), account("BAD", Type="Reseller"), account("OK-2")]
    response = await http.patch(
        f"{API}/composite/sobjects/Account/External_Id__c", json={"records": records}, headers=auth
    )
    ok1, bad, ok2 = response.json()
    assert ok1["success"]
    assert ok2["success"]
    assert bad == {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Account Type: bad value for restricted picklist field: Reseller",
                "fields": ["Type"],
            }
        ],
    }
    assert org.count("Account") == 2


async def test_all_or_none_rolls_back_every_record(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    records = [account("OK-1"), account("BAD", AnnualRevenue=-1), account("OK-2")]
    response = await http.patch(
        f"{API}/composite/sobjects/Account/External_Id__c", json={"allOrNone": True, "records": records}, headers=auth
    )
    ok1, bad, ok2 = response.json()
    assert response.status_code == 200
    assert ok1 == {"success": False, "errors": [ROLLED_BACK]}
    assert ok2 == {"success": False, "errors": [ROLLED_BACK]}
    assert bad["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert org.count("Account") == 0


async def test_duplicate_external_ids_in_one_request(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await http.patch(
        f"{API}/composite/sobjects/Account/External_Id__c",
        json={"records": [account("D"), account("d")]},
        headers=auth,
    )
    first, second = response.json()
    assert first["success"]
    assert second["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


async def test_create_update_delete_mixed_types(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    created = await http.post(
        f"{API}/composite/sobjects",
        headers=auth,
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Contact"}, "LastName": "C", "Email": "c@example.com"},
            ]
        },
    )
    account_id, contact_id = (r["id"] for r in created.json())
    assert contact_id.startswith("003")
    updated = await http.patch(
        f"{API}/composite/sobjects",
        headers=auth,
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": account_id, "Industry": "Banking"},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Industry": "Banking"},
            ]
        },
    )
    ok, missing = updated.json()
    assert ok["success"]
    assert missing["errors"][0]["statusCode"] in {"INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"}
    fetched = await http.get(
        f"{API}/composite/sobjects/Account?ids={account_id},001000000000000AAA&fields=Industry", headers=auth
    )
    assert fetched.json()[0]["Industry"] == "Banking"
    assert fetched.json()[1] is None
    deleted = await http.delete(f"{API}/composite/sobjects?ids={account_id},{contact_id},bogus", headers=auth)
    assert [r["success"] for r in deleted.json()] == [True, True, False]
    assert deleted.json()[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert org.count("Account") == 0


async def test_malformed_collection_requests(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    url = f"{API}/composite/sobjects/Account/External_Id__c"
    too_many = await http.patch(url, json={"records": [account(f"X{i}") for i in range(201)]}, headers=auth)
    assert too_many.status_code == 400
    assert too_many.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    not_json = await http.patch(url, content=b"[1,", headers={**auth, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    bad_field = await http.patch(f"{API}/composite/sobjects/Account/Name", json={"records": []}, headers=auth)
    assert bad_field.status_code == 404
    chunks = [{"attributes": {"type": t}, "Name": "n", "LastName": "l"} for t in ["Account", "Contact"] * 6]
    chunked = await http.post(f"{API}/composite/sobjects", json={"records": chunks}, headers=auth)
    assert chunked.status_code == 400


async def test_composite_references_and_one_api_call(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    body = {
        "compositeRequest": [
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "acc", "body": {"Name": "Parent"}},
            {
                "method": "POST",
                "url": f"{API}/sobjects/Opportunity",
                "referenceId": "opp",
                "body": {
                    "Name": "Deal",
                    "StageName": "Proposal",
                    "CloseDate": "2026-03-01",
                    "Amount": 250,
                    "AccountId": "@{acc.id}",
                },
            },
            {
                "method": "GET",
                "url": f"{API}/sobjects/Account/@{{acc.id}}?fields=Total_Opportunity_Amount__c",
                "referenceId": "read",
            },
        ]
    }
    before = org.api_usage.used()
    response = await http.post(f"{API}/composite", json=body, headers=auth)
    acc, opp, read = response.json()["compositeResponse"]
    assert acc["httpStatusCode"] == 201
    assert acc["httpHeaders"]["Location"].endswith(acc["body"]["id"])
    assert opp["httpStatusCode"] == 201
    assert read["body"]["Total_Opportunity_Amount__c"] == 250.0
    assert org.api_usage.used() == before + 1


async def test_composite_all_or_none_halts_and_rolls_back(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "a", "body": {"Name": "Kept?"}},
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "b", "body": {"Type": "Nope"}},
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "c", "body": {"Name": "Never"}},
        ],
    }
    response = await http.post(f"{API}/composite", json=body, headers=auth)
    first, failed, halted = response.json()["compositeResponse"]
    assert response.status_code == 200
    halted_body = [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "The transaction was rolled back since another operation in the same transaction failed.",
        }
    ]
    assert first == {"body": halted_body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "a"}
    assert halted["body"] == halted_body
    assert failed["httpStatusCode"] == 400
    assert failed["body"][0]["errorCode"] in {"REQUIRED_FIELD_MISSING", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"}
    assert org.count("Account") == 0
    assert org.feed.count("/data/AccountChangeEvent") == 0


async def test_composite_without_all_or_none_keeps_independent_work(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    body = {
        "compositeRequest": [
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "bad", "body": {"Industry": "Energy"}},
            {
                "method": "POST",
                "url": f"{API}/sobjects/Contact",
                "referenceId": "dep",
                "body": {"LastName": "L", "AccountId": "@{bad.id}"},
            },
            {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "ok", "body": {"Name": "Fine"}},
        ]
    }
    bad, dependent, ok = (await http.post(f"{API}/composite", json=body, headers=auth)).json()["compositeResponse"]
    assert bad["httpStatusCode"] == 400
    assert dependent["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert ok["httpStatusCode"] == 201
    assert org.count("Account") == 1


async def test_composite_over_25_subrequests(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    sub = {"method": "GET", "url": f"{API}/limits", "referenceId": "x"}
    response = await http.post(f"{API}/composite", json={"compositeRequest": [sub] * 26}, headers=auth)
    assert response.status_code == 400


async def test_composite_all_or_none_overrides_a_collections_subrequest(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    records = [account("C-1"), account("C-2", Type="Nope")]
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{API}/sobjects/Contact", "referenceId": "first", "body": {"LastName": "Kept?"}},
            {
                "method": "PATCH",
                "url": f"{API}/composite/sobjects/Account/External_Id__c",
                "referenceId": "batch",
                "body": {"allOrNone": False, "records": records},
            },
        ],
    }
    response = await http.post(f"{API}/composite", json=body, headers=auth)
    first, batch = response.json()["compositeResponse"]
    assert first["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert batch["body"][0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.count("Contact") == 0
    assert org.count("Account") == 0


async def test_composite_allows_at_most_five_queries(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    query = {"method": "GET", "url": f"{API}/query?q=SELECT+Id+FROM+Account", "referenceId": "q"}
    response = await http.post(f"{API}/composite", json={"compositeRequest": [query] * 6}, headers=auth)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_BATCH_REQUEST"


async def test_composite_batch_counts_each_subrequest(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    body = {
        "haltOnError": True,
        "batchRequests": [
            {"method": "POST", "url": "v62.0/sobjects/Account", "richInput": {"Name": "Batch"}},
            {"method": "GET", "url": "v62.0/limits"},
            {"method": "POST", "url": "v62.0/sobjects/Account", "richInput": {"Industry": "Energy"}},
            {"method": "GET", "url": "v62.0/limits"},
        ],
    }
    before = org.api_usage.used()
    response = await http.post(f"{API}/composite/batch", json=body, headers=auth)
    created, limits, failed, halted = response.json()["results"]
    assert response.json()["hasErrors"] is True
    assert created["statusCode"] == 201
    assert limits["statusCode"] == 200
    assert failed["result"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert halted == {
        "statusCode": 412,
        "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}],
    }
    assert org.api_usage.used() == before + 3
    assert org.count("Account") == 1
