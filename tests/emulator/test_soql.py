"""SOQL parsing and execution over small in-memory objects, including the errors the real API gives."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from bridge.emulator.org import Org
from bridge.emulator.routes_query import error_response, query_routes
from bridge.emulator.server import EmulatorServer
from bridge.emulator.soql import SoqlError, parse_soql
from bridge.emulator.soql_eval import QueryResult, execute

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
URL = "/services/data/v60.0/sobjects"


def _field(name: str, type_: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "custom": name.endswith("__c"), **extra}


DESCRIBES: dict[str, dict[str, Any]] = {
    "Account": {
        "name": "Account",
        "fields": [
            _field("Id", "id"),
            _field("Name"),
            _field("Industry", "picklist"),
            _field("External_Id__c"),
            _field("AnnualRevenue", "currency"),
            _field("IsActive__c", "boolean"),
        ],
    },
    "Opportunity": {
        "name": "Opportunity",
        "fields": [
            _field("Id", "id"),
            _field("Name"),
            _field("Amount", "currency"),
            _field("CloseDate", "date"),
            _field("CreatedDate", "datetime"),
            _field("AccountId", "reference", referenceTo=["Account"], relationshipName="Account"),
        ],
    },
}
ACCOUNTS = [
    {"Id": "001000000000001AAA", "Name": "Acme", "Industry": "Energy", "External_Id__c": "A-1", "IsActive__c": True},
    {"Id": "001000000000002AAA", "Name": "Globex", "Industry": None, "External_Id__c": "A-2", "IsActive__c": False},
    {"Id": "001000000000003AAA", "Name": "50% off_sale", "Industry": "Retail", "AnnualRevenue": 10.5},
]
OPPORTUNITIES = [
    {
        "Id": "006000000000001AAA",
        "Name": "Big deal",
        "Amount": 5000.0,
        "CloseDate": "2026-03-10",
        "CreatedDate": "2026-03-09T08:00:00.000+0000",
        "AccountId": "001000000000001AAA",
    },
    {
        "Id": "006000000000002AAA",
        "Name": "small deal",
        "Amount": 50.0,
        "CloseDate": "2026-01-01",
        "CreatedDate": "2025-12-01T08:00:00.000+0000",
        "AccountId": None,
    },
    {
        "Id": "006000000000003AAA",
        "Name": "Unpriced",
        "Amount": None,
        "CloseDate": "2026-03-09",
        "CreatedDate": "2026-03-10T01:00:00.000+0000",
        "AccountId": "001000000000002AAA",
    },
]
ROWS = {"Account": ACCOUNTS, "Opportunity": OPPORTUNITIES}


def _resolve(sobject: str, record_id: str) -> Mapping[str, Any] | None:
    return next((row for row in ROWS[sobject] if row["Id"] == record_id), None)


def _describe(sobject: str) -> Mapping[str, Any] | None:
    return next((d for name, d in DESCRIBES.items() if name.lower() == sobject.lower()), None)


def run(text: str) -> QueryResult:
    query = parse_soql(text)
    described = _describe(query.sobject)
    rows = ROWS[described["name"]] if described else []
    return execute(query, rows, _describe, _resolve, now=NOW, sobjects_url=URL)


def names(text: str) -> list[str]:
    return [record["Name"] for record in run(text).records]


def error(text: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        run(text)
    return caught.value


def test_records_carry_attributes_and_describe_case() -> None:
    result = run("select id, NAME from account where external_id__c = 'A-1'")
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {"type": "Account", "url": f"{URL}/Account/001000000000001AAA"},
            "Id": "001000000000001AAA",
            "Name": "Acme",
        }
    ]


def test_relationship_fields_nest_the_parent_and_null_when_absent() -> None:
    records = run("SELECT Name, Account.Name, Account.Industry FROM Opportunity ORDER BY Name").records
    assert records[0]["Account"] == {
        "attributes": {"type": "Account", "url": f"{URL}/Account/001000000000001AAA"},
        "Name": "Acme",
        "Industry": "Energy",
    }
    assert records[1]["Name"] == "small deal"
    assert records[1]["Account"] is None


def test_where_on_a_relationship_field() -> None:
    assert names("SELECT Name FROM Opportunity WHERE Account.Name = 'globex'") == ["Unpriced"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Amount > 100", ["Big deal"]),
        ("Amount >= 50 AND Amount < 5000", ["small deal"]),
        ("Amount = null", ["Unpriced"]),
        ("Amount != null", ["Big deal", "small deal"]),
        ("Name != 'big deal'", ["Unpriced", "small deal"]),
        ("Name <> 'big deal'", ["Unpriced", "small deal"]),
        ("Name LIKE '%DEAL'", ["Big deal", "small deal"]),
        ("Name LIKE 'small_deal'", ["small deal"]),
        ("NOT Name LIKE '%deal'", ["Unpriced"]),
        ("Name IN ('Unpriced', 'Big deal')", ["Big deal", "Unpriced"]),
        ("Name NOT IN ('Unpriced', 'Big deal')", ["small deal"]),
        ("(Amount > 1000 OR Amount = null) AND Name LIKE 'U%'", ["Unpriced"]),
        ("Amount > 1000 OR (Amount < 100 AND Name LIKE 's%')", ["Big deal", "small deal"]),
        ("CloseDate = 2026-03-10", ["Big deal"]),
        ("CloseDate < 2026-03-01", ["small deal"]),
        ("CloseDate = TODAY", ["Big deal"]),
        ("CloseDate = YESTERDAY", ["Unpriced"]),
        ("CloseDate = LAST_N_DAYS:30", ["Big deal", "Unpriced"]),
        ("CreatedDate = TODAY", ["Unpriced"]),
        ("CreatedDate > 2026-03-09T12:00:00Z", ["Unpriced"]),
        ("CreatedDate < 2026-03-09T09:00:00+01:00", ["small deal"]),
        ("CreatedDate = LAST_N_DAYS:2", ["Big deal", "Unpriced"]),
        ("Id = '006000000000002'", ["small deal"]),
        ("AccountId = null", ["small deal"]),
    ],
)
def test_where(where: str, expected: list[str]) -> None:
    assert names(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY CloseDate DESC") == expected  # noqa: S608


def test_like_escapes_and_booleans() -> None:
    assert names(r"SELECT Name FROM Account WHERE Name LIKE '50\% off\_%'") == ["50% off_sale"]
    assert names(r"SELECT Name FROM Account WHERE Name LIKE '50\%'") == []
    assert names("SELECT Name FROM Account WHERE IsActive__c = TRUE") == ["Acme"]
    assert names("SELECT Name FROM Account WHERE IsActive__c = false") == ["Globex"]


def test_string_escapes() -> None:
    assert parse_soql(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ \n \u00e9'").where is not None
    where = parse_soql(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ \n \u00e9'").where
    assert getattr(where, "values")[0].value == "O'Brien \\ \n é"  # noqa: B009


def test_order_by_nulls_limit_offset() -> None:
    assert names("SELECT Name FROM Opportunity ORDER BY Amount") == ["Unpriced", "small deal", "Big deal"]
    assert names("SELECT Name FROM Opportunity ORDER BY Amount NULLS LAST") == ["small deal", "Big deal", "Unpriced"]
    assert names("SELECT Name FROM Opportunity ORDER BY Amount DESC") == ["Big deal", "small deal", "Unpriced"]
    assert names("SELECT Name FROM Opportunity ORDER BY Amount DESC NULLS FIRST") == [
        "Unpriced",
        "Big deal",
        "small deal",
    ]
    assert names("SELECT Name FROM Account ORDER BY Industry ASC NULLS LAST, Name DESC") == [
        "Acme",
        "50% off_sale",
        "Globex",
    ]
    assert names("SELECT Name FROM Opportunity ORDER BY Name LIMIT 2 OFFSET 1") == ["small deal", "Unpriced"]
    assert names("SELECT Name FROM Opportunity ORDER BY Account.Name DESC NULLS LAST") == [
        "Unpriced",
        "Big deal",
        "small deal",
    ]


def test_counts() -> None:
    assert run("SELECT COUNT() FROM Opportunity WHERE Amount > 10") == QueryResult(2, [])
    assert run("SELECT COUNT(Amount) FROM Opportunity").records == [
        {"attributes": {"type": "AggregateResult"}, "expr0": 2}
    ]
    assert run("SELECT COUNT(Id) total FROM Account").records[0]["total"] == 3


def test_fields_all_expands_the_describe() -> None:
    record = run("SELECT FIELDS(ALL) FROM Account WHERE Name = 'Acme' LIMIT 1").records[0]
    assert list(record) == ["attributes", "Id", "Name", "Industry", "External_Id__c", "AnnualRevenue", "IsActive__c"]
    custom = run("SELECT FIELDS(CUSTOM) FROM Account LIMIT 200").records[0]
    assert list(custom) == ["attributes", "External_Id__c", "IsActive__c"]


@pytest.mark.parametrize(
    ("text", "code", "tail"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY", "ERROR at Row:1:Column:15\nunexpected token: '<EOF>'"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", "MALFORMED_QUERY", "token: 'OR'"),
        ("SELECT Id FROM Account WHERE Name = 'a", "MALFORMED_QUERY", "unexpected token: '''"),
        ("SELECT Id, FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity)", "MALFORMED_QUERY", "semi-join"),
        ("SELECT Id FROM Account WHERE Name = 'a\\q'", "MALFORMED_QUERY", "Illegal character sequence '\\q'"),
        ("SELECT FIELDS(ALL) FROM Account", "MALFORMED_QUERY", "LIMIT of at most 200"),
        ("SELECT Name, COUNT(Id) FROM Account", "MALFORMED_QUERY", "Field must be grouped or aggregated: Name"),
        ("SELECT Id FROM Account WHERE AnnualRevenue = '5'", "MALFORMED_QUERY", "must be of type double"),
        ("SELECT Id FROM Account WHERE Name = 5", "MALFORMED_QUERY", "should be enclosed in quotes"),
        ("SELECT Id FROM Bogus__c", "INVALID_TYPE", "sObject type 'Bogus__c' is not supported."),
        ("SELECT Nope FROM Account", "INVALID_FIELD", "No such column 'Nope' on entity 'Account'."),
        ("SELECT Id FROM Account ORDER BY Nope", "INVALID_FIELD", "No such column 'Nope'"),
        ("SELECT Id FROM Opportunity WHERE Account.Nope = 'x'", "INVALID_FIELD", "No such column 'Account.Nope'"),
        ("SELECT Acct.Name FROM Opportunity", "INVALID_FIELD", "Didn't understand relationship 'Acct'"),
    ],
)
def test_errors(text: str, code: str, tail: str) -> None:
    caught = error(text)
    assert caught.error_code == code
    assert tail in caught.message
    assert caught.message.startswith("\n")
    assert not caught.retryable


def test_offset_is_capped() -> None:
    assert len(names("SELECT Name FROM Account LIMIT 5 OFFSET 2000")) == 0
    caught = error("SELECT Name FROM Account LIMIT 5 OFFSET 2001")
    assert (caught.error_code, caught.message) == ("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")


def test_error_points_at_the_row_and_column() -> None:
    caught = error("SELECT Id\nFROM Account\nWHERE Nope = 1")
    assert caught.message == (
        "\nWHERE Nope = 1\n      ^\nERROR at Row:3:Column:7\nNo such column 'Nope' on entity 'Account'. If you are "
        "attempting to use a custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names."
    )


# --- the query routes, through the ASGI app -------------------------------------------------------------------


@pytest.fixture(scope="module")
def org() -> Org:
    """The default org with 2,600 extra Accounts, every tenth deleted."""
    org = Org()
    ids: list[str] = []
    for start in range(0, 2600, 200):
        batch = [{"Name": f"Account {n:05d}", "External_Id__c": f"Q-{n}"} for n in range(start, start + 200)]
        ids.extend(result["id"] for result in org.insert_many("Account", batch))
    org.delete_many(ids[::10])
    return org


@pytest.fixture
async def client(org: Org) -> AsyncIterator[httpx.AsyncClient]:
    async def guard(request: Request, kind: str) -> Response | None:
        if request.headers.get("authorization") != "Bearer token":
            return error_response("INVALID_SESSION_ID", "Session expired or invalid", 401)
        org.count_call(kind)
        return None

    app = Starlette(routes=query_routes(org, guard))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator", headers={"Authorization": "Bearer token"}
    ) as http:
        yield http


BASE = "/services/data/v60.0"


async def test_query_pages_follow_next_records_url(client: httpx.AsyncClient, org: Org) -> None:
    q = "SELECT Id, Name FROM Account WHERE External_Id__c LIKE 'Q-%' ORDER BY Name"
    used = org.api_usage.used()
    first = (await client.get(f"{BASE}/query", params={"q": q})).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (2340, False, 2000)
    assert re.fullmatch(r"/services/data/v60\.0/query/01g\w{15}-2000", first["nextRecordsUrl"])
    second = (await client.get(first["nextRecordsUrl"])).json()
    assert (second["done"], len(second["records"]), "nextRecordsUrl" in second) == (True, 340, False)
    names = [r["Name"] for r in first["records"] + second["records"]]
    assert names == sorted(names)
    assert len(set(names)) == 2340
    assert org.api_usage.used() == used + 2


async def test_batch_size_header_and_query_all(client: httpx.AsyncClient) -> None:
    headers = {"Sforce-Query-Options": "batchSize=250"}
    url: str | None = f"{BASE}/queryAll?q=SELECT+Id,IsDeleted+FROM+Account+WHERE+External_Id__c+LIKE+'Q-%25'"
    sizes = []
    while url:
        page = (await client.get(url, headers=headers)).json()
        sizes.append(len(page["records"]))
        assert page["totalSize"] == 2600
        url = page.get("nextRecordsUrl")
    assert sizes == [250] * 10 + [100]
    deleted = (
        await client.get(f"{BASE}/queryAll", params={"q": "SELECT COUNT() FROM Account WHERE IsDeleted = true"})
    ).json()
    assert deleted == {"totalSize": 260, "done": True, "records": []}
    tiny = (
        await client.get(
            f"{BASE}/query", params={"q": "SELECT Id FROM Account"}, headers={"Sforce-Query-Options": "batchSize=5"}
        )
    ).json()
    assert len(tiny["records"]) == 200  # the documented minimum


async def test_idle_query_locators_expire(client: httpx.AsyncClient, org: Org) -> None:
    q = {"q": "SELECT Id FROM Account"}
    first = (await client.get(f"{BASE}/query", params=q, headers={"Sforce-Query-Options": "batchSize=200"})).json()
    second = (await client.get(first["nextRecordsUrl"])).json()
    org.clock.advance(14 * 60)
    assert (await client.get(second["nextRecordsUrl"])).status_code == 200
    org.clock.advance(16 * 60)
    expired = await client.get(second["nextRecordsUrl"])
    assert (expired.status_code, expired.json()[0]["errorCode"]) == (400, "INVALID_QUERY_LOCATOR")


async def test_query_errors_are_rest_error_arrays(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/query", params={"q": "SELECT Nope FROM Account"})
    assert response.status_code == 400
    [body] = response.json()
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope' on entity 'Account'" in body["message"]
    missing = await client.get(f"{BASE}/query")
    assert missing.json()[0]["errorCode"] == "MALFORMED_QUERY"
    stale = await client.get(f"{BASE}/query/01g000000000000AAA-2000")
    assert (stale.status_code, stale.json()[0]["errorCode"]) == (400, "INVALID_QUERY_LOCATOR")
    refused = await client.get(f"{BASE}/query", params={"q": "SELECT Id FROM Account"}, headers={"Authorization": "x"})
    assert (refused.status_code, refused.json()[0]["errorCode"]) == (401, "INVALID_SESSION_ID")


async def test_catalog_fetch_reads_rules_and_triggers_through_the_tooling_api(client: httpx.AsyncClient) -> None:
    from bridge.catalog.fetch import fetch_rules

    class Reader:
        async def describe(self, sobject: str) -> Mapping[str, Any]:
            raise NotImplementedError

        async def tooling_query(self, soql: str) -> list[Mapping[str, Any]]:
            response = await client.get(f"{BASE}/tooling/query/", params={"q": soql})
            assert response.status_code == 200, response.text
            return list(response.json()["records"])

    rules = await fetch_rules(Reader(), "Account")
    assert rules
    assert all(rule["Metadata"]["errorConditionFormula"] for rule in rules)
    assert {rule["EntityDefinition"]["QualifiedApiName"] for rule in rules} == {"Account"}
    assert rules[0]["attributes"]["url"].startswith("/services/data/v60.0/tooling/sobjects/ValidationRule/03d")
    triggers = await Reader().tooling_query(
        "SELECT Id, Name, TableEnumOrId, Status, UsageBeforeInsert, UsageAfterUndelete FROM ApexTrigger "
        "WHERE TableEnumOrId = 'Account'"
    )
    assert triggers
    assert {t["TableEnumOrId"] for t in triggers} == {"Account"}


async def test_entity_definitions_and_custom_object_rules(client: httpx.AsyncClient, org: Org) -> None:
    q = "SELECT DurableId, QualifiedApiName FROM EntityDefinition WHERE QualifiedApiName LIKE 'Invoice%'"
    [invoice] = (await client.get(f"{BASE}/tooling/query", params={"q": q})).json()["records"]
    assert invoice["DurableId"].startswith("01I")
    assert invoice["attributes"]["url"] == f"{BASE}/tooling/sobjects/EntityDefinition/{invoice['DurableId']}"
    rules = (
        "SELECT ValidationName, EntityDefinitionId FROM ValidationRule "
        "WHERE EntityDefinition.QualifiedApiName = 'Invoice__c'"
    )
    found = (await client.get(f"{BASE}/tooling/query", params={"q": rules})).json()["records"]
    expected = [r.name for r in org.profile.validation_rules if r.sobject == "Invoice__c"]
    assert sorted(r["ValidationName"] for r in found) == sorted(expected)
    assert expected
    assert {r["EntityDefinitionId"] for r in found} == {invoice["DurableId"]}


async def test_apex_triggers_through_the_data_api(client: httpx.AsyncClient) -> None:
    q = "SELECT Name, TableEnumOrId, Status FROM ApexTrigger WHERE Status = 'Active' ORDER BY Name"
    records = (await client.get(f"{BASE}/query", params={"q": q})).json()["records"]
    assert "AccountTrigger" in [r["Name"] for r in records]
    assert records[0]["attributes"]["url"].startswith(f"{BASE}/sobjects/ApexTrigger/01q")


async def test_metadata_needs_a_single_row_query(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/tooling/query", params={"q": "SELECT Id, Metadata FROM ValidationRule"})
    assert response.status_code == 400
    assert "no more than one row for retrieval" in response.json()[0]["message"]
    fields = await client.get(
        f"{BASE}/tooling/query",
        params={"q": "SELECT DeveloperName, FullName FROM CustomField WHERE DeveloperName = 'External_Id' LIMIT 1"},
    )
    assert fields.json()["records"][0]["FullName"].endswith(".External_Id__c")
    objects = await client.get(f"{BASE}/tooling/query", params={"q": "SELECT DeveloperName FROM CustomObject"})
    assert "Invoice" in {r["DeveloperName"] for r in objects.json()["records"]}


async def test_users_and_the_bypass_setting_as_mediation_reads_them(client: httpx.AsyncClient) -> None:
    q = "SELECT Id, ProfileId, Profile.Name FROM User WHERE Username = 'integration@emulator.example'"
    [user] = (await client.get(f"{BASE}/query", params={"q": q})).json()["records"]
    assert user["Id"] == "0055g00000INTEGAA5"
    assert user["Profile"]["Name"] == "Integration User"
    assert user["attributes"]["url"] == f"{BASE}/sobjects/User/0055g00000INTEGAA5"
    setting = await client.get(f"{BASE}/query", params={"q": "SELECT Id, SetupOwnerId FROM Integration_Bypass__c"})
    assert setting.json()["totalSize"] == 2


async def test_relationship_query_against_the_org(client: httpx.AsyncClient, org: Org) -> None:
    [account] = org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "R-1", "Name": "Parent Co"}])
    org.upsert_many(
        "Opportunity",
        "External_Id__c",
        [
            {
                "External_Id__c": "O-1",
                "Name": "Deal",
                "StageName": "Prospecting",
                "CloseDate": "2026-12-01",
                "Amount": 10,
                "AccountId": account["id"],
            }
        ],
    )
    q = "SELECT Name, Account.Name, Account.External_Id__c FROM Opportunity WHERE Account.Name LIKE 'parent%'"
    [record] = (await client.get(f"{BASE}/query", params={"q": q})).json()["records"]
    assert record["Account"]["Name"] == "Parent Co"
    assert record["Account"]["attributes"] == {"type": "Account", "url": f"{BASE}/sobjects/Account/{account['id']}"}


async def test_simple_salesforce_query_and_query_all(org: Org) -> None:
    from tests.emulator.test_bulk import simple_salesforce_client

    async with EmulatorServer(org, tls=True) as server:
        sf = simple_salesforce_client(server, org)
        q = "SELECT Id, Name FROM Account WHERE External_Id__c LIKE 'Q-%' ORDER BY Name"
        first = await asyncio.to_thread(sf.query, q)
        everything = await asyncio.to_thread(sf.query_all, q)
        with_deleted = await asyncio.to_thread(sf.query_all, q, include_deleted=True)
        count = await asyncio.to_thread(sf.query, "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'Q-%'")
        with pytest.raises(SalesforceMalformedRequest) as caught:
            await asyncio.to_thread(sf.query, "SELECT Nope FROM Account")
    assert (first["totalSize"], first["done"], len(first["records"])) == (2340, False, 2000)
    assert (everything["totalSize"], len(everything["records"]), everything["done"]) == (2340, 2340, True)
    assert len(with_deleted["records"]) == 2600
    assert count["totalSize"] == 2340
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
