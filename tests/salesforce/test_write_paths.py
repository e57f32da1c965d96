"""The client's Composite Graph, sObject Tree and duplicate rules, against the emulator and scripted payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, Org, create_app
from bridge.salesforce import (
    ClientCredentials,
    DuplicatesDetected,
    ExternalIdNotInPath,
    Graph,
    SalesforceClient,
    create_node,
    reference,
    tree_record,
    upsert_node,
)
from bridge.sink.outcomes import Failure, FailureKind
from tests.salesforce.conftest import BASE, ClientFactory, FakeSalesforce

LOGIN = "http://emulator.test"
SECRET = SecretStr("emulator-client-secret")
V = "/services/data/v62.0"
Connect = Callable[..., AbstractAsyncContextManager[SalesforceClient]]


@pytest.fixture
def org() -> Org:
    org = Org()
    org.set_duplicate_rules(active=True)
    return org


@pytest.fixture
def connect(org: Org) -> Connect:
    @asynccontextmanager
    async def build(**settings: Any) -> AsyncIterator[SalesforceClient]:
        config = SalesforceSettings(login_url=LOGIN, client_id="emulator-client-id", **settings)
        auth = ClientCredentials(LOGIN, "emulator-client-id", SECRET)
        async with SalesforceClient(config, auth, transport=httpx.ASGITransport(create_app(org))) as sf:
            yield sf

    return build


def _deal(number: int, account: str) -> dict[str, Any]:
    return {"Name": f"Deal {number}", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": account}


async def test_duplicates_are_permanent_and_name_the_matching_records(connect: Connect, org: Org) -> None:
    async with connect() as sf:
        first = await sf.create("Account", {"Name": "Globex", "BillingCity": "Lyon"})
        with pytest.raises(DuplicatesDetected) as raised:
            await sf.create("Account", {"Name": "Globex", "BillingCity": "Lyon"})
        [item] = await sf.upsert_collection(
            "Account", "External_Id__c", [{"External_Id__c": "G-2", "Name": "Globex", "BillingCity": "Lyon"}], True
        )
    assert raised.value.match_ids == (first.id,)
    assert not raised.value.retryable
    error = item.errors[0]
    assert (error.status_code, error.match_ids) == ("DUPLICATES_DETECTED", (first.id,))
    failure = Failure.from_error(error)  # what the sink dead-letters: the detail's message names the match
    assert failure.kind is FailureKind.PERMANENT
    assert failure.message == f"Use one of these records? (matching records: {first.id})"
    assert org.count("Account") == 1


async def test_the_allow_save_setting_saves_alerted_duplicates(connect: Connect, org: Org) -> None:
    async with connect(duplicate_rule_allow_save=True) as sf:
        await sf.create("Account", {"Name": "Initech", "BillingCity": "Austin"})
        second = await sf.create("Account", {"Name": "Initech", "BillingCity": "Austin"})
    assert second.id is not None
    assert org.count("Account") == 2


async def test_the_allow_save_header_is_sent_only_when_set(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on("GET", rf"{BASE}/limits", httpx.Response(200, json={}))
    async with make_client() as sf:
        await sf.limits()
    async with make_client(duplicate_rule_allow_save=True) as sf:
        await sf.limits()
    headers = [r.headers.get("Sforce-Duplicate-Rule-Header") for r in fake.api_requests()]
    assert headers == [None, "allowSave=true"]


async def test_composite_graph_writes_parents_and_children_together(connect: Connect, org: Org) -> None:
    good = Graph(
        "g1",
        (
            upsert_node(V, "Account", "External_Id__c", "P 1?", {"Name": "Parent"}, reference_id="parent"),
            upsert_node(V, "Opportunity", "External_Id__c", "C-1", _deal(1, reference("parent")), reference_id="child"),
        ),
    )
    bad = Graph(
        "g2",
        (
            create_node(V, "Account", {"Name": "Orphan"}, reference_id="parent"),
            create_node(V, "Opportunity", {"Name": "No stage", "AccountId": reference("parent")}, reference_id="deal"),
        ),
    )
    async with connect() as sf:
        written, refused = await sf.composite_graph([good, bad])
    assert written.is_successful
    assert written.error is None
    ids = written.ids()
    assert org.get("Opportunity", ids["child"])["AccountId"] == ids["parent"]
    assert org.by_external_id("Account", "External_Id__c", "P 1?")["Id"] == ids["parent"]
    assert not refused.is_successful
    assert refused.error is not None
    assert refused.error.status_code == "REQUIRED_FIELD_MISSING"  # the cause, not the PROCESSING_HALTED it caused
    assert refused.ids() == {}
    assert org.count("Account") == 1


async def test_composite_graph_over_a_socket() -> None:
    org = Org()
    async with EmulatorServer(org) as server:
        settings = SalesforceSettings(login_url=server.url, client_id="emulator-client-id")
        async with SalesforceClient(settings, ClientCredentials(server.url, "emulator-client-id", SECRET)) as sf:
            graphs = [
                Graph(
                    f"g{n}",
                    (
                        upsert_node(V, "Account", "External_Id__c", f"S-{n}", {"Name": f"A{n}"}, reference_id="a"),
                        create_node(V, "Opportunity", _deal(n, reference("a")), reference_id="o"),
                    ),
                )
                for n in range(3)
            ]
            results = await sf.composite_graph(graphs)
    assert [r.is_successful for r in results] == [True, True, True]
    assert org.count("Opportunity") == 3
    assert sum(c.api_calls for c in org.call_log if "composite/graph" in c.path) == 1


def test_graph_requests_are_checked_before_sending() -> None:
    with pytest.raises(ExternalIdNotInPath):
        upsert_node(V, "Account", "External_Id__c", "A/1", {}, reference_id="a")
    node = create_node(V, "Account", {"Name": "x"}, reference_id="a")
    from bridge.salesforce.composite import graph_body

    with pytest.raises(ValueError, match="75"):
        graph_body([Graph(f"g{i}", (node,)) for i in range(76)])
    with pytest.raises(ValueError, match="500"):
        graph_body([Graph("g", tuple(create_node(V, "Account", {}, reference_id=f"n{i}") for i in range(501)))])
    with pytest.raises(ValueError, match="graphId"):
        graph_body([Graph("a.b", (node,))])
    with pytest.raises(ValueError, match="unique referenceIds"):
        graph_body([Graph("g", (node, node))])


async def test_sobject_tree(connect: Connect, org: Org) -> None:
    contact = tree_record("Contact", "c1", {"LastName": "Smith"})
    deal = tree_record("Opportunity", "o1", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-01"})
    account = tree_record("Account", "a1", {"Name": "Tree"}, {"Contacts": [contact], "Opportunities": [deal]})
    bad_contact = tree_record("Contact", "c2", {"LastName": "Bad", "Email": "no"})
    async with connect() as sf:
        created = await sf.sobject_tree("Account", [account])
        refused = await sf.sobject_tree(
            "Account", [tree_record("Account", "a2", {"Name": "T"}, {"Contacts": [bad_contact]})]
        )
        with pytest.raises(ValueError, match="200"):
            await sf.sobject_tree("Account", [tree_record("Account", f"r{i}", {"Name": "x"}) for i in range(201)])
    assert not created.has_errors
    ids = created.ids()
    assert set(ids) == {"a1", "c1", "o1"}
    assert org.get("Contact", ids["c1"])["AccountId"] == ids["a1"]
    assert refused.has_errors
    assert [(i.reference_id, i.errors[0].status_code) for i in refused.results] == [("c2", "INVALID_EMAIL_ADDRESS")]
    assert org.count("Account") == 1
