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
