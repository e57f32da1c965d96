"""Conformance: simple-salesforce, an independent client from PyPI, against the emulator over real HTTPS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from bridge.emulator import EmulatorServer, Org

pytestmark = pytest.mark.timeout(60)
T = TypeVar("T")


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(Org(daily_limit=500), tls=True) as running:
        yield running


def client(server: EmulatorServer) -> Salesforce:
    """Log in with client credentials over the socket, then hand the session to simple-salesforce."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.certfile)
    token = session.post(
        f"{server.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
        timeout=10,
    ).json()
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], version="62.0", session=session
    )


async def run(server: EmulatorServer, work: Callable[[Salesforce], T]) -> T:
    """Run blocking client code in a thread (the server shares this event loop)."""

    def in_thread() -> T:
        sf = client(server)
        try:
            return work(sf)
        finally:
            sf.session.close()  # an idle keep-alive connection would hold up the server's shutdown

    return await asyncio.to_thread(in_thread)


async def test_crud_and_upsert(server: EmulatorServer) -> None:
    def work(sf: Salesforce) -> dict[str, Any]:
        account = sf.Account  # one SFType: it keeps the last Sforce-Limit-Info it saw
        created = account.create({"Name": "Conformance", "Industry": "Energy"})
        fetched = account.get(created["id"])
        updated = account.update(created["id"], {"Industry": "Retail"})
        upsert_new = account.upsert("External_Id__c/CONF-1", {"Name": "Upserted"})
        upsert_again = account.upsert("External_Id__c/CONF-1", {"Name": "Upserted again"})
        by_ext = account.get_by_custom_id("External_Id__c", "CONF-1")
        deleted = account.delete(created["id"])
        return {
            "created": created,
            "fetched": fetched,
            "updated": updated,
            "upsert_new": upsert_new,
            "upsert_again": upsert_again,
            "by_ext": by_ext,
            "deleted": deleted,
            "usage": account.api_usage,
        }

    out = await run(server, work)
    assert out["created"]["success"] is True
    assert out["fetched"]["Industry"] == "Energy"
    assert out["updated"] == 204
    assert out["upsert_new"] == 201
    assert out["upsert_again"] == 200
    assert out["by_ext"]["Name"] == "Upserted again"
    assert out["deleted"] == 204
    assert out["usage"]["api-usage"].total == 500
    assert server.org.count("Account") == 1


async def test_describe_and_limits(server: EmulatorServer) -> None:
    def work(sf: Salesforce) -> tuple[Any, Any, Any]:
        return sf.describe(), sf.Opportunity.describe(), sf.limits()

    everything, opportunity, limits = await run(server, work)
    assert "Invoice__c" in {o["name"] for o in everything["sobjects"]}
    assert {f["name"] for f in opportunity["fields"]} >= {"StageName", "CloseDate", "AccountId"}
    assert limits["DailyApiRequests"]["Max"] == 500


async def test_errors_map_to_the_clients_exceptions(server: EmulatorServer) -> None:
    def outcome(call: Callable[[], object]) -> tuple[type[Exception], Any]:
        try:
            call()
        except Exception as exc:
            # Keep the class and body only: a kept traceback would keep the client's socket open.
            return type(exc), getattr(exc, "content", None)
        raise AssertionError("expected the call to fail")

    def work(sf: Salesforce) -> dict[str, tuple[type[Exception], Any]]:
        caught = {
            "malformed": outcome(lambda: sf.Account.create({"Industry": "Energy"})),
            "missing": outcome(lambda: sf.Account.get("001000000000000AAA")),
        }
        server.org.api_usage.spend(1000)
        caught["limit"] = outcome(lambda: sf.Account.get("001000000000000AAA"))
        server.org.sessions.expire()
        caught["expired"] = outcome(sf.limits)
        return caught

    caught = await run(server, work)
    assert caught["malformed"][0] is SalesforceMalformedRequest
    assert caught["malformed"][1][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert caught["missing"][0] is SalesforceResourceNotFound
    assert caught["limit"][0] is SalesforceRefusedRequest
    assert caught["limit"][1][0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert caught["expired"][0] is SalesforceExpiredSession


async def test_collections_through_restful(server: EmulatorServer) -> None:
    records = [{"attributes": {"type": "Account"}, "External_Id__c": f"R-{i}", "Name": f"R {i}"} for i in range(5)]

    def work(sf: Salesforce) -> Any:
        return sf.restful(
            "composite/sobjects/Account/External_Id__c", method="PATCH", json={"allOrNone": True, "records": records}
        )

    results = await run(server, work)
    assert [r["created"] for r in results] == [True] * 5
    assert server.org.count("Account") == 5


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("bridge.emulator.routes_query") is None, reason="query routes not present"
)
async def test_query_and_query_all(server: EmulatorServer) -> None:
    server.org.upsert_many(
        "Account", "External_Id__c", [{"External_Id__c": f"Q-{i}", "Name": f"Q {i}"} for i in range(3)]
    )
    gone = server.org.by_external_id("Account", "External_Id__c", "Q-0")
    assert gone is not None
    server.org.delete_many([gone["Id"]])

    def work(sf: Salesforce) -> tuple[Any, Any]:
        q = "SELECT Id, Name FROM Account WHERE External_Id__c LIKE 'Q-%'"
        return sf.query(q), sf.query_all(q, include_deleted=True)

    live, everything = await run(server, work)
    assert live["totalSize"] == 2
    assert everything["totalSize"] == 3


async def test_platform_event_published_over_rest_is_on_the_pubsub_stream_under_its_uuid(
    server: EmulatorServer,
) -> None:
    """Platform Events guide: a REST publish answers `"statusCode" : "OPERATION_ENQUEUED", "message" :
    "e981b488-81f3-4fcc-bd6f-f7033c9d7ac3"` (the EventUuid), and "For Pub/Sub API clients, the event id field
    contains the event UUID value." simple-salesforce publishes; the Pub/Sub feed holds the event under that id."""

    def work(sf: Salesforce) -> Any:
        return sf.Order_Event__e.create({"Order_Number__c": "CONF-PE-1", "Status__c": "Shipped"})

    answer = await run(server, work)
    assert answer["success"] is True
    [enqueued] = answer["errors"]
    assert enqueued["statusCode"] == "OPERATION_ENQUEUED"
    [event] = server.org.feed.read_after("/event/Order_Event__e", 0, 10)
    assert event.event_id == enqueued["message"]


# --- REST fidelity (issue 18): external ids in URLs, Composite Graph and Tree, duplicates, merge, undelete ---

# Each value with the path segment a client must send for it (percent-encoding, `%20` for a space).
PATH_VALUES = {
    "what?x=1": "what%3Fx%3D1",
    "100%": "100%25",
    "#hash": "%23hash",
    "sp ace": "sp%20ace",
    "a+b": "a%2Bb",
    "a&b": "a%26b",
    "ünï ✓": "%C3%BCn%C3%AF%20%E2%9C%93",
}


async def test_external_ids_with_reserved_characters_on_the_record_path(server: EmulatorServer) -> None:
    """sObject Rows by External ID read the value from one percent-decoded path segment; "+" in a path is a literal
    plus, so simple-salesforce's `get_by_custom_id`, which sends a space as "+" (quote_plus), finds nothing for
    a value with a space ("The Salesforce REST API treats + in paths as a literal plus character, causing
    'Resource not found' errors for External IDs containing spaces", simple-salesforce issue 801)."""

    def work(sf: Salesforce) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for value, segment in PATH_VALUES.items():
            created = sf.Account.upsert(f"External_Id__c/{segment}", {"Name": value})
            updated = sf.Account.upsert(f"External_Id__c/{segment}", {"Name": value})
            try:
                found = sf.Account.get_by_custom_id("External_Id__c", value)["External_Id__c"]
            except SalesforceResourceNotFound:
                found = None
            deleted = sf.Account.delete(f"External_Id__c/{segment}")
            out[value] = (created, updated, found, deleted)
        return out

    out = await run(server, work)
    expected_found = {v: (None if " " in v else v) for v in PATH_VALUES}
    assert {v: o[:2] for v, o in out.items()} == dict.fromkeys(PATH_VALUES, (201, 200))
    assert {v: o[2] for v, o in out.items()} == expected_found
    assert {v: o[3] for v, o in out.items()} == dict.fromkeys(PATH_VALUES, 204)
    assert server.org.count("Account") == 0


async def test_a_slash_cannot_travel_in_the_record_path(server: EmulatorServer) -> None:
    """A "/" in an external id cannot be used on the REST path, even encoded: "I'm still getting the error
    'NOT_FOUND-The requested resource does not exist' even after the fix" (texei-sfdx-plugin pull request 111,
    encoding the value with encodeURIComponent). Collections carry it in the body; a value that is not encoded
    at all loses what follows "?" or "#" (a query or fragment, not part of the path)."""

    def work(sf: Salesforce) -> tuple[type[Exception] | None, Any, Any]:
        try:
            sf.Account.upsert("External_Id__c/a%2Fb", {"Name": "slash"})
            refused = None
        except SalesforceResourceNotFound as exc:
            refused = type(exc)
        body = {"records": [{"attributes": {"type": "Account"}, "External_Id__c": "a/b", "Name": "slash"}]}
        collected = sf.restful("composite/sobjects/Account/External_Id__c", method="PATCH", json=body)
        raw = sf.Account.upsert("External_Id__c/cut?here", {"Name": "not encoded"})
        return refused, collected, raw

    refused, collected, raw = await run(server, work)
    assert refused is SalesforceResourceNotFound
    assert collected[0]["created"] is True
    assert server.org.by_external_id("Account", "External_Id__c", "a/b") is not None
    assert raw == 201
    assert server.org.by_external_id("Account", "External_Id__c", "cut") is not None  # "?here" was a query


async def test_format_suffix_and_guarded_extensions(server: EmulatorServer) -> None:
    """ "append .json or .xml to the URI (for example, /Account/001D000000INjVe.json)" asks for a format; "using
    an email address, such as example@email.inc, as the External ID returns a '404 not found' error"."""
    server.org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "F-1", "Name": "Suffix"}])

    def work(sf: Salesforce) -> tuple[Any, type[Exception] | None]:
        as_json = sf.Account.get_by_custom_id("External_Id__c", "F-1.json")
        try:
            sf.Account.upsert("External_Id__c/someone@example.inc", {"Name": "mail"})
        except SalesforceResourceNotFound as exc:
            return as_json, type(exc)
        return as_json, None

    as_json, refused = await run(server, work)
    assert as_json["External_Id__c"] == "F-1"
    assert refused is SalesforceResourceNotFound


async def test_composite_graph_and_tree_through_restful(server: EmulatorServer) -> None:
    """Composite Graph: "The response bodies and HTTP statuses of the requests are returned in a single response
    body. The entire request counts as a single call toward your API limits." sObject Tree: "Upon success, the
    response contains the IDs of the created records"."""
    base = "/services/data/v62.0"
    deal = {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": "@{acct.id}"}
    graph = {
        "graphs": [
            {
                "graphId": "g1",
                "compositeRequest": [
                    {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "acct", "body": {"Name": "G"}},
                    {"method": "POST", "url": f"{base}/sobjects/Opportunity", "referenceId": "deal", "body": deal},
                ],
            }
        ]
    }
    tree = {
        "records": [
            {
                "attributes": {"type": "Account", "referenceId": "ref1"},
                "Name": "T",
                "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "S"}]},
            }
        ]
    }
    bad_tree = {"records": [{"attributes": {"type": "Account", "referenceId": "ref1"}, "Industry": "Energy"}]}

    def work(sf: Salesforce) -> tuple[Any, Any, Any]:
        graphed = sf.restful("composite/graph", method="POST", json=graph)
        treed = sf.restful("composite/tree/Account", method="POST", json=tree)
        try:
            sf.restful("composite/tree/Account", method="POST", json=bad_tree)
        except SalesforceMalformedRequest as exc:
            return graphed, treed, exc.content
        return graphed, treed, None

    graphed, treed, refused = await run(server, work)
    assert graphed["graphs"][0]["isSuccessful"] is True
    assert [r["httpStatusCode"] for r in graphed["graphs"][0]["graphResponse"]["compositeResponse"]] == [201, 201]
    assert treed["hasErrors"] is False
    assert [r["referenceId"] for r in treed["results"]] == ["ref1", "ref2"]
    assert refused["hasErrors"] is True
    assert refused["results"][0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


async def test_duplicate_rules_and_the_header_through_simple_salesforce(server: EmulatorServer) -> None:
    """DUPLICATES_DETECTED with `duplicateResult` ("allowSave", "duplicateRule", "matchResults" with
    "matchRecords"), and the `Sforce-Duplicate-Rule-Header` field allowSave: "For a duplicate rule, when the
    Alert option is enabled, bypass alerts and save duplicate records by setting this property to true"."""
    server.org.set_duplicate_rules(active=True)

    def work(sf: Salesforce) -> tuple[Any, Any, Any]:
        first = sf.Account.create({"Name": "Umbrella", "BillingCity": "Zürich"})
        try:
            sf.Account.create({"Name": "Umbrella", "BillingCity": "Zürich"})
            refused = None
        except SalesforceMalformedRequest as exc:
            refused = exc.content
        allowed = sf.Account.create(
            {"Name": "Umbrella", "BillingCity": "Zürich"}, headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"}
        )
        return first, refused, allowed

    first, refused, allowed = await run(server, work)
    assert refused[0]["errorCode"] == "DUPLICATES_DETECTED"
    matches = refused[0]["duplicateResult"]["matchResults"][0]["matchRecords"]
    assert [m["record"]["Id"] for m in matches] == [first["id"]]
    assert allowed["success"] is True
    assert server.org.count("Account") == 2


async def test_merge_and_undelete_seen_through_query_all(server: EmulatorServer) -> None:
    """merge(): "You can use queryAll() to view records that have been deleted during a merge"; the loser's
    MasterRecordId "is set to the ID of the winning record"; undelete restores a record from the Recycle Bin."""
    org = server.org
    [winner, loser] = org.insert_many("Account", [{"Name": "Stark", "External_Id__c": "M-1"}, {"Name": "Stark 2"}])
    merged = await org.recycle_bin.merge("Account", winner["id"], [loser["id"]])
    assert merged["mergedRecordIds"] == [loser["id"]]
    soql = f"SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Id = '{loser['id']}'"  # noqa: S608 - our id

    def work(sf: Salesforce) -> tuple[Any, Any]:
        return sf.query(soql), sf.query_all(soql, include_deleted=True)

    live, everything = await run(server, work)
    assert live["totalSize"] == 0
    assert everything["records"][0]["IsDeleted"] is True
    assert everything["records"][0]["MasterRecordId"] == winner["id"]
    [restored] = await org.recycle_bin.undelete([loser["id"]])
    assert restored["success"] is True
    live_again, _ = await run(server, work)
    assert live_again["totalSize"] == 1


async def test_platform_events_over_collections_and_composite(server: EmulatorServer) -> None:
    """ "Publish events by inserting events in the same way that you insert sObjects. You can use any Salesforce
    API to create platform events"; each success carries OPERATION_ENQUEUED with the event UUID."""
    records = [{"attributes": {"type": "Order_Event__e"}, "Order_Number__c": f"PE-{i}"} for i in range(3)]
    composite = {
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Order_Event__e",
                "referenceId": "event",
                "body": {"Order_Number__c": "PE-9"},
            }
        ]
    }

    def work(sf: Salesforce) -> tuple[Any, Any]:
        collection = sf.restful("composite/sobjects", method="POST", json={"records": records})
        return collection, sf.restful("composite", method="POST", json=composite)

    collection, composed = await run(server, work)
    assert [item["errors"][0]["statusCode"] for item in collection] == ["OPERATION_ENQUEUED"] * 3
    assert composed["compositeResponse"][0]["body"]["errors"][0]["statusCode"] == "OPERATION_ENQUEUED"
    assert server.org.feed.count("/event/Order_Event__e") == 4


async def test_loose_json_values_are_read_as_the_org_reads_them(server: EmulatorServer) -> None:
    """Object Reference, "Primitive Data Types": "Boolean fields have one of these values: true (or 1), or false
    (or 0)", and date fields "contain no time value". Salesforce Help 000385689: "Salesforce does not round values
    provided through the API. If you insert or update a value like $1.234, it will be stored exactly as entered,
    regardless of the field's decimal setting." A numeric string converts, and a restricted picklist's value in
    another case is stored in the defined case (the docs are silent: chosen, see tests/emulator/coercion_cases.py).
    """
    sent = {"Name": "INV-L1", "Amount__c": "1.234", "Paid__c": "true", "Status__c": "paid", "Due_Date__c": "2026-12-31"}

    def work(sf: Salesforce) -> tuple[Any, Any]:
        created = sf.Invoice__c.create(sent)
        sf.Invoice__c.update(created["id"], {"Paid__c": 0, "Due_Date__c": "2027-01-15T09:00:00Z"})
        return created, sf.Invoice__c.get(created["id"])

    created, stored = await run(server, work)
    assert created["success"] is True
    assert (stored["Amount__c"], stored["Status__c"]) == (1.234, "Paid")  # not rounded to the field's scale 2
    assert (stored["Paid__c"], stored["Due_Date__c"]) == (False, "2027-01-15")


async def test_values_the_org_cannot_read_are_refused_through_simple_salesforce(server: EmulatorServer) -> None:
    """A value that is none of a checkbox's documented values ("true (or 1), or false (or 0)", Object Reference,
    "Primitive Data Types") or no number for a currency field fails deserializing the body (JSON_PARSER_ERROR);
    a value with more integer digits than precision - scale is NUMBER_OUTSIDE_VALID_RANGE."""

    def attempt(fields: dict[str, Any]) -> Callable[[Salesforce], str]:
        def work(sf: Salesforce) -> str:
            try:
                sf.Invoice__c.create({"Name": "INV-L2", "Amount__c": 1, **fields})
            except SalesforceMalformedRequest as exc:
                return str(exc.content[0]["errorCode"])
            return "created"

        return work

    tried = ({"Paid__c": "yes"}, {"Amount__c": "12,50"}, {"Amount__c": 10**14}, {"Paid__c": "FALSE"})
    codes = [await run(server, attempt(fields)) for fields in tried]
    assert codes == ["JSON_PARSER_ERROR", "JSON_PARSER_ERROR", "NUMBER_OUTSIDE_VALID_RANGE", "created"]
