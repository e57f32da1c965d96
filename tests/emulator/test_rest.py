"""REST resources: OAuth, versions, describe, sObject rows, upsert by external id, and the error shapes."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.emulator import Org, create_app, load_profile
from bridge.emulator.ids import make_id
from bridge.emulator.profile import ConnectedApp
from tests.emulator.conftest import API, Login

pytestmark = pytest.mark.timeout(30)


async def test_client_credentials_token_has_documented_fields(http: httpx.AsyncClient, org: Org) -> None:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "https://emulator.test"
    assert body["id"].endswith(f"/id/{org.profile.org_id}/{org.user().id}")
    assert body["issued_at"].isdigit()
    assert body["signature"]


async def test_client_credentials_in_basic_auth(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("emulator-client-id", "emulator-client-secret"),
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"},
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "emulator-client-id", "client_secret": "wrong"},
            "invalid_client",
            "invalid client credentials",
        ),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant type not supported"),
        (
            {
                "grant_type": "password",
                "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret",
                "username": "integration@emulator.example",
                "password": "wrong",
            },
            "invalid_grant",
            "authentication failure",
        ),
    ],
)
async def test_token_errors_are_oauth_objects(
    http: httpx.AsyncClient, form: dict[str, str], error: str, description: str
) -> None:
    response = await http.post("/services/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def _jwt_org() -> tuple[Org, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    profile = load_profile()
    app = ConnectedApp("jwt-app", "jwt-client-id", "unused-secret", "integration@emulator.example", pem.decode())
    profile = type(profile)(
        **{
            **{f: getattr(profile, f) for f in profile.__dataclass_fields__},
            "connected_apps": (*profile.connected_apps, app),
        }
    )
    return Org(profile), key


def _assertion(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    claims = {
        "iss": "jwt-client-id",
        "sub": "integration@emulator.example",
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, None),
        ({"exp": int(time.time()) - 60}, "expired authorization code"),
        ({"aud": "https://elsewhere.example"}, "audience is invalid"),
        ({"sub": "nobody@emulator.example"}, "invalid user"),
    ],
)
async def test_jwt_bearer(overrides: dict[str, object], expected: str | None) -> None:
    org, key = _jwt_org()
    transport = httpx.ASGITransport(app=create_app(org))
    async with httpx.AsyncClient(transport=transport, base_url="https://emulator.test") as http:
        response = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _assertion(key, **overrides),
            },
        )
    if expected is None:
        assert response.status_code == 200
        assert org.sessions.lookup(response.json()["access_token"]) is not None
    else:
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_grant", "error_description": expected}


async def test_jwt_signed_by_another_key_is_refused() -> None:
    org, _ = _jwt_org()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    transport = httpx.ASGITransport(app=create_app(org))
    async with httpx.AsyncClient(transport=transport, base_url="https://emulator.test") as http:
        response = await http.post(
            "/services/oauth2/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _assertion(other)},
        )
    assert response.json()["error_description"] == "invalid assertion"


async def test_versions_need_no_session_and_carry_no_usage_header(http: httpx.AsyncClient) -> None:
    response = await http.get("/services/data")
    assert response.status_code == 200
    assert {"version": "62.0", "url": "/services/data/v62.0", "label": "Winter '25"} in response.json()
    assert "sforce-limit-info" not in response.headers


async def test_every_api_response_carries_usage(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    first = await http.get(f"{API}/sobjects", headers=auth)
    second = await http.get(f"{API}/sobjects/Nope/describe", headers=auth)
    assert first.headers["sforce-limit-info"] == "api-usage=1/1000"
    assert second.status_code == 404
    assert second.headers["sforce-limit-info"] == "api-usage=2/1000"


async def test_describe_global_and_describe(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    listing = (await http.get(f"{API}/sobjects/", headers=auth)).json()
    names = {o["name"]: o for o in listing["sobjects"]}
    assert listing["maxBatchSize"] == 200
    assert names["Account"]["keyPrefix"] == "001"
    assert names["Invoice__c"]["custom"] is True
    describe = (await http.get(f"{API}/sobjects/Opportunity/describe", headers=auth)).json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["External_Id__c"]["externalId"]
    assert fields["External_Id__c"]["unique"]
    assert fields["StageName"]["restrictedPicklist"]
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["CloseDate"]["nillable"] is False
    account = (await http.get(f"{API}/sobjects/Account/describe", headers=auth)).json()
    assert {"childSObject": "Opportunity", "field": "AccountId"}.items() <= account["childRelationships"][0].items()


async def test_create_get_update_delete(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    created = await http.post(f"{API}/sobjects/Account", json={"Name": "Acme", "Industry": "Energy"}, headers=auth)
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert created.json() == {"id": record_id, "success": True, "errors": []}
    assert len(record_id) == 18
    assert record_id.startswith("001")
    fetched = (await http.get(f"{API}/sobjects/Account/{record_id[:15]}", headers=auth)).json()
    assert fetched["attributes"] == {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{record_id}"}
    assert fetched["Name"] == "Acme"
    assert fetched["CreatedDate"].endswith("+0000")
    some = (await http.get(f"{API}/sobjects/Account/{record_id}?fields=Name,Industry", headers=auth)).json()
    assert set(some) == {"attributes", "Name", "Industry"}
    updated = await http.patch(f"{API}/sobjects/Account/{record_id}", json={"Industry": "Retail"}, headers=auth)
    assert updated.status_code == 204
    assert org.get("Account", record_id)["Industry"] == "Retail"
    deleted = await http.delete(f"{API}/sobjects/Account/{record_id}", headers=auth)
    assert deleted.status_code == 204
    again = await http.delete(f"{API}/sobjects/Account/{record_id}", headers=auth)
    assert again.status_code == 404
    assert again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert org.get("Account", record_id)["IsDeleted"] is True


async def test_upsert_by_external_id_statuses(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    url = f"{API}/sobjects/Account/External_Id__c/ACME%3A001%20X"
    created = await http.patch(url, json={"Name": "Acme"}, headers=auth)
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = await http.patch(url, json={"Name": "Acme Corp"}, headers=auth)
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    old_api = await http.patch(url.replace("v62.0", "v45.0"), json={"Name": "Acme"}, headers=auth)
    assert old_api.status_code == 204
    assert old_api.content == b""
    fetched = await http.get(url, headers=auth)
    assert fetched.json()["External_Id__c"] == "ACME:001 X"
    plus = await http.get(f"{API}/sobjects/Account/External_Id__c/ACME:001+X", headers=auth)
    assert plus.status_code == 404  # '+' is a literal plus, not a space
    slash = await http.patch(f"{API}/sobjects/Account/External_Id__c/ACME%2F001", json={"Name": "A"}, headers=auth)
    assert slash.status_code == 404  # an encoded slash is still a path separator: no such resource
    assert slash.json()[0] == {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}


async def test_upsert_update_only_and_bad_field(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    only = await http.patch(
        f"{API}/sobjects/Account/External_Id__c/NEW?updateOnly=true", json={"Name": "N"}, headers=auth
    )
    assert only.status_code == 404
    assert only.json()[0]["errorCode"] == "NOT_FOUND"
    bad = await http.patch(f"{API}/sobjects/Account/Name/x", json={"Name": "N"}, headers=auth)
    assert bad.status_code == 404
    assert bad.json() == [
        {"message": "Provided external ID field does not exist or is not accessible: Name", "errorCode": "NOT_FOUND"}
    ]


async def test_upsert_multiple_matches_answers_300(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    # Two records share an external id only when the field is not unique; store them directly to get there.
    first = org.insert_many("Account", [{"Name": "A", "External_Id__c": "DUP"}])[0]["id"]
    second = {**(org.get("Account", first) or {}), "Id": make_id("001", 9999)}
    org.store.put("Account", second)
    response = await http.patch(f"{API}/sobjects/Account/External_Id__c/DUP", json={"Name": "X"}, headers=auth)
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(
        f"/services/data/v62.0/sobjects/Account/{i}" for i in (first, second["Id"])
    )


BASE_OPP = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-01-31"}


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Account", {"Industry": "Energy"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Account", {"Name": "A", "Type": "Reseller"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Type"]),
        ("Account", {"Name": "A", "Nope__c": 1}, "INVALID_FIELD", []),
        ("Account", {"Name": "A", "Id": "001000000000001AAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Id"]),
        ("Account", {"Name": "A", "AnnualRevenue": "lots"}, "JSON_PARSER_ERROR", ["AnnualRevenue"]),
        ("Account", {"Name": "A", "AnnualRevenue": -5}, "FIELD_CUSTOM_VALIDATION_EXCEPTION", ["AnnualRevenue"]),
        ("Opportunity", {**BASE_OPP, "AccountId": "not-an-id"}, "MALFORMED_ID", ["AccountId"]),
        ("Opportunity", {**BASE_OPP, "AccountId": "0015g0000000zzzAAA"}, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
        ("Opportunity", {**BASE_OPP, "Account": {"External_Id__c": "MISSING"}}, "INVALID_FIELD", []),
        ("Contact", {"LastName": "L", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ],
)
async def test_error_codes(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    *,
    sobject: str,
    body: dict[str, object],
    code: str,
    fields: list[str],
) -> None:
    response = await http.post(f"{API}/sobjects/{sobject}", json=body, headers=auth)
    assert response.status_code == 400, response.text
    [error] = response.json()
    assert error["errorCode"] == code
    assert error["fields"] == fields
    assert error["message"]


async def test_duplicate_value_names_the_holder(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    first = await http.post(f"{API}/sobjects/Account", json={"Name": "A", "External_Id__c": "X-1"}, headers=auth)
    second = await http.post(f"{API}/sobjects/Account", json={"Name": "B", "External_Id__c": "x-1"}, headers=auth)
    assert second.json() == [
        {
            "message": "duplicate value found: External_Id__c duplicates value on record with id: "
            f"{first.json()['id']}",
            "errorCode": "DUPLICATE_VALUE",
            "fields": ["External_Id__c"],
        }
    ]


async def test_parent_by_external_id(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    await http.patch(f"{API}/sobjects/Account/External_Id__c/P-1", json={"Name": "Parent"}, headers=auth)
    response = await http.patch(
        f"{API}/sobjects/Opportunity/External_Id__c/O-1",
        json={**BASE_OPP, "Account": {"External_Id__c": "P-1"}, "Amount": 10},
        headers=auth,
    )
    assert response.status_code == 201
    parent = org.by_external_id("Account", "External_Id__c", "P-1")
    assert parent is not None
    assert org.by_external_id("Opportunity", "External_Id__c", "O-1")["AccountId"] == parent["Id"]


async def test_malformed_json_and_unknown_resources(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    bad = await http.post(
        f"{API}/sobjects/Account", content=b"{nope", headers={**auth, "Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing = await http.get(f"{API}/sobjects/Account/001000000000000", headers=auth)
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    method = await http.put(f"{API}/sobjects/Account/describe", headers=auth)
    assert method.status_code == 405
    assert method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


async def test_human_login_runs_as_the_human(http: httpx.AsyncClient, login: Login, org: Org) -> None:
    headers = await login(("emulator-human-client-id", "emulator-client-secret"))
    created = await http.post(f"{API}/sobjects/Account", json={"Name": "By hand"}, headers=headers)
    assert org.get("Account", created.json()["id"])["CreatedById"] == org.user("alice@emulator.example").id


async def test_get_updated_and_deleted(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    start = org.clock.iso()
    kept, gone = (r["id"] for r in org.insert_many("Account", [{"Name": "Kept"}, {"Name": "Gone"}]))
    org.delete_many([gone])
    org.clock.advance(120)
    end = org.clock.iso()
    window = {"start": start, "end": end}
    updated = await http.get(f"{API}/sobjects/Account/updated/", params=window, headers=auth)
    assert updated.json()["ids"] == [kept]
    assert updated.json()["latestDateCovered"].startswith(end[:16])
    deleted = await http.get(f"{API}/sobjects/Account/deleted/", params=window, headers=auth)
    assert [d["id"] for d in deleted.json()["deletedRecords"]] == [gone]
    too_old = await http.get(
        f"{API}/sobjects/Account/deleted/", params={"start": "2000-01-01T00:00:00+00:00", "end": end}, headers=auth
    )
    assert too_old.status_code == 400
