"""The REST client against documented payloads: each method, headers, limit info, metrics, refresh, transport."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from urllib.parse import unquote

import httpx
import pytest
from pydantic import SecretStr

from bridge.metrics import Metrics
from bridge.salesforce import (
    ClientCredentials,
    ExternalIdNotInPath,
    InvalidRequest,
    LimitInfo,
    MultipleMatches,
    RecordLocked,
    RequestLimitExceeded,
    RolledBack,
    SaveResult,
    ServerUnavailable,
    Session,
    SessionExpired,
    TransportError,
)
from tests.salesforce.conftest import (
    BASE,
    CLIENT_SECRET,
    INSTANCE_URL,
    LOGIN_URL,
    TOKEN_PREFIX,
    ClientFactory,
    FakeSalesforce,
    calls,
    sf_error,
)

ACC_ID = "001RM000003oLrfYAE"
# Values a URL path segment carries once percent-encoded, with how they travel; and values it cannot carry.
PATH_SAFE_IDS = {
    "what?x=1": "what%3Fx%3D1",
    "100%": "100%25",
    "#hash": "%23hash",
    'it\'s "quoted"': "it%27s%20%22quoted%22",
    "ünï cødé ✓": "%C3%BCn%C3%AF%20c%C3%B8d%C3%A9%20%E2%9C%93",
    "sp ace+plus": "sp%20ace%2Bplus",
    "a&b=c;d": "a%26b%3Dc%3Bd",
    "tilde~dash-dot.under_": "tilde~dash-dot.under_",
}
NOT_IN_PATH_IDS = ["a/b", "..", ".", "a/../b", "report.json", "report.XML", "someone@example.inc", ""]
HOSTILE_IDS = [*PATH_SAFE_IDS, *(v for v in NOT_IN_PATH_IDS if v)]
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def _body(request: httpx.Request) -> object:
    return json.loads(request.content)


async def test_upsert_created_updated_and_legacy_204(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "PATCH",
        rf"{BASE}/sobjects/Account/Ext_Id__c/A-1",
        httpx.Response(201, json={"id": ACC_ID, "success": True, "errors": [], "created": True}),
        httpx.Response(200, json={"id": ACC_ID, "success": True, "errors": [], "created": False}),
        httpx.Response(204),
    )
    async with make_client() as sf:
        first = await sf.upsert("Account", "Ext_Id__c", "A-1", {"Name": "Acme"})
        second = await sf.upsert("Account", "Ext_Id__c", "A-1", {"Name": "Acme 2"})
        third = await sf.upsert("Account", "Ext_Id__c", "A-1", {"Name": "Acme 3"})
    assert first == SaveResult(ACC_ID, success=True, created=True)
    assert second == SaveResult(ACC_ID, success=True, created=False)
    assert third == SaveResult(None, success=True, created=False)
    assert _body(fake.api_requests()[0]) == {"Name": "Acme"}


async def test_upsert_201_without_created_flag_counts_as_created(
    make_client: ClientFactory, fake: FakeSalesforce
) -> None:
    fake.on("PATCH", r".*/Ext_Id__c/A-1", httpx.Response(201, json={"id": ACC_ID, "success": True, "errors": []}))
    async with make_client() as sf:
        assert (await sf.upsert("Account", "Ext_Id__c", "A-1", {})).created


async def test_upsert_multiple_matches(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    urls = [f"{BASE}/sobjects/Account/001A", f"{BASE}/sobjects/Account/001B"]
    fake.on("PATCH", r".*/Ext_Id__c/dup", httpx.Response(300, json=urls))
    async with make_client() as sf:
        with pytest.raises(MultipleMatches, match="001B"):
            await sf.upsert("Account", "Ext_Id__c", "dup", {"Name": "x"})


@pytest.mark.parametrize(("value", "encoded"), PATH_SAFE_IDS.items())
async def test_external_ids_travel_as_one_path_segment(
    make_client: ClientFactory, fake: FakeSalesforce, value: str, encoded: str
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        segments = request.url.raw_path.decode("ascii").split("/")
        return httpx.Response(201, json={"id": unquote(segments[-1]), "success": True, "errors": [], "created": True})

    fake.on("PATCH", rf"{BASE}/sobjects/Account/Ext_Id__c/[^/?#]+", echo)
    async with make_client() as sf:
        result = await sf.upsert("Account", "Ext_Id__c", value, {"Name": "n"})
    assert result.id == value
    assert fake.api_requests()[0].url.raw_path.decode("ascii") == f"{BASE}/sobjects/Account/Ext_Id__c/{encoded}"


@pytest.mark.parametrize("value", NOT_IN_PATH_IDS)
async def test_external_ids_no_path_can_carry_are_refused_before_any_request(
    make_client: ClientFactory, fake: FakeSalesforce, value: str
) -> None:
    async with make_client() as sf:
        for call in (
            sf.upsert("Account", "Ext_Id__c", value, {"Name": "n"}),
            sf.get_by_external_id("Account", "Ext_Id__c", value),
            sf.delete_by_external_id("Account", "Ext_Id__c", value),
        ):
            with pytest.raises(ExternalIdNotInPath, match="upsert_collection") as raised:
                await call
            assert raised.value.value == value
            assert not raised.value.retryable
            assert isinstance(raised.value, InvalidRequest)  # a permanent error: the sink dead-letters it
    assert fake.api_requests() == []


@pytest.mark.parametrize("name", ["Account/../User", "Acc ount", "", "1Account"])
async def test_api_names_are_checked(make_client: ClientFactory, fake: FakeSalesforce, name: str) -> None:
    async with make_client() as sf:
        with pytest.raises(ValueError, match="API name"):
            await sf.upsert(name, "Ext_Id__c", "x", {})
        with pytest.raises(ValueError, match="API name"):
            await sf.upsert("Account", name, "x", {})
    assert fake.api_requests() == []


async def test_upsert_error_maps_to_exception(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "PATCH",
        r".*/Ext_Id__c/L",
        sf_error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
    )
    async with make_client() as sf:
        with pytest.raises(RecordLocked) as raised:
            await sf.upsert("Account", "Ext_Id__c", "L", {"Name": "x"})
    assert raised.value.retryable
    assert raised.value.status == 400


async def test_upsert_collection_body_and_results(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    results = [
        {"id": ACC_ID, "success": True, "errors": [], "created": True},
        {
            "success": False,
            "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Bad", "fields": ["Name"]}],
        },
        {"success": False, "errors": [ROLLED_BACK]},
    ]
    fake.on("PATCH", rf"{BASE}/composite/sobjects/Account/Ext_Id__c", httpx.Response(200, json=results))
    records = [{"Ext_Id__c": "a/1", "Name": "A"}, {"Ext_Id__c": "b", "Name": ""}, {"Ext_Id__c": "c", "Name": "C"}]
    async with make_client() as sf:
        saved = await sf.upsert_collection("Account", "Ext_Id__c", records, all_or_none=True)
    body = _body(fake.api_requests()[0])
    assert body == {
        "allOrNone": True,
        "records": [{"attributes": {"type": "Account"}, **record} for record in records],
    }
    assert [r.success for r in saved] == [True, False, False]
    assert saved[0].created
    assert saved[1].errors[0].fields == ("Name",)
    assert saved[1].errors[0].exception_type is InvalidRequest
    assert saved[2].errors[0].exception_type is RolledBack


async def test_upsert_collection_limits(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    async with make_client() as sf:
        with pytest.raises(ValueError, match="200"):
            await sf.upsert_collection("Account", "Ext_Id__c", [{"Ext_Id__c": str(i)} for i in range(201)], True)
        assert await sf.upsert_collection("Account", "Ext_Id__c", [], all_or_none=False) == []
    assert fake.api_requests() == []


async def test_create_update_delete_get(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "POST",
        rf"{BASE}/sobjects/Contact",
        httpx.Response(201, json={"id": "003000000000001AAA", "success": True, "errors": []}),
    )
    fake.on("PATCH", rf"{BASE}/sobjects/Contact/003000000000001AAA", httpx.Response(204))
    fake.on("DELETE", rf"{BASE}/sobjects/Contact/003000000000001AAA", httpx.Response(204))
    record = {"attributes": {"type": "Contact"}, "Id": "003000000000001AAA", "LastName": "Lovelace"}
    fake.on("GET", rf"{BASE}/sobjects/Contact/003000000000001AAA", httpx.Response(200, json=record))
    async with make_client() as sf:
        created = await sf.create("Contact", {"LastName": "Lovelace"})
        await sf.update("Contact", created.id or "", {"FirstName": "Ada"})
        got = await sf.get("Contact", "003000000000001AAA", ["Id", "LastName"])
        await sf.delete("Contact", "003000000000001AAA")
        with pytest.raises(ValueError, match="record Id"):
            await sf.get("Contact", "../limits")
    assert created == SaveResult("003000000000001AAA", success=True, created=True)
    assert got["LastName"] == "Lovelace"
    methods = [(r.method, r.url.params.get("fields")) for r in fake.api_requests()]
    assert methods == [("POST", None), ("PATCH", None), ("GET", "Id,LastName"), ("DELETE", None)]


async def test_composite(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    answer = {
        "compositeResponse": [
            {
                "body": {"id": ACC_ID, "success": True, "errors": []},
                "httpHeaders": {"Location": f"{BASE}/sobjects/Account/{ACC_ID}"},
                "httpStatusCode": 201,
                "referenceId": "acc",
            },
            {
                "body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back"}],
                "httpHeaders": {},
                "httpStatusCode": 400,
                "referenceId": "con",
            },
        ]
    }
    fake.on("POST", rf"{BASE}/composite", httpx.Response(200, json=answer))
    async with make_client() as sf:
        subrequests = [
            {"method": "POST", "url": f"{sf.base_path}/sobjects/Account", "referenceId": "acc", "body": {"Name": "A"}},
            {
                "method": "POST",
                "url": f"{sf.base_path}/sobjects/Contact",
                "referenceId": "con",
                "body": {"AccountId": "@{acc.id}"},
            },
        ]
        responses = await sf.composite(subrequests, all_or_none=True)
        with pytest.raises(ValueError, match="25"):
            await sf.composite(subrequests * 13, all_or_none=False)
    assert _body(fake.api_requests()[0]) == {"allOrNone": True, "compositeRequest": subrequests}
    assert [(r.reference_id, r.http_status) for r in responses] == [("acc", 201), ("con", 400)]
    assert responses[0].http_headers["Location"].endswith(ACC_ID)


async def test_query_follows_next_records_url(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    locator = f"{BASE}/query/01gRO0000016PIAYA2-2"
    page1 = {"totalSize": 3, "done": False, "nextRecordsUrl": locator, "records": [{"Id": "1"}, {"Id": "2"}]}
    page2 = {"totalSize": 3, "done": True, "records": [{"Id": "3"}]}
    fake.on("GET", rf"{BASE}/query", httpx.Response(200, json=page1))
    fake.on("GET", locator, httpx.Response(200, json=page2))
    async with make_client() as sf:
        ids = [r["Id"] async for r in sf.query("SELECT Id FROM Account WHERE Name = 'a&b'", batch_size=200)]
    assert ids == ["1", "2", "3"]
    first, second = fake.api_requests()
    assert first.url.params["q"] == "SELECT Id FROM Account WHERE Name = 'a&b'"
    assert str(second.url) == INSTANCE_URL + locator
    assert first.headers["Sforce-Query-Options"] == "batchSize=200"


async def test_query_all_and_tooling_query(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "GET",
        rf"{BASE}/queryAll",
        httpx.Response(200, json={"totalSize": 1, "done": True, "records": [{"Id": "d", "IsDeleted": True}]}),
    )
    fake.on(
        "GET",
        rf"{BASE}/tooling/query",
        httpx.Response(200, json={"totalSize": 1, "done": True, "records": [{"Id": "03d", "ValidationName": "R"}]}),
    )
    async with make_client() as sf:
        deleted = [r async for r in sf.query_all("SELECT Id, IsDeleted FROM Account")]
        rules = await sf.tooling_query("SELECT Id, ValidationName FROM ValidationRule")
    assert deleted == [{"Id": "d", "IsDeleted": True}]
    assert rules == [{"Id": "03d", "ValidationName": "R"}]


async def test_malformed_query(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on("GET", rf"{BASE}/query", sf_error(400, "MALFORMED_QUERY", "unexpected token: FORM"))
    async with make_client() as sf:
        with pytest.raises(InvalidRequest, match="MALFORMED_QUERY"):
            [r async for r in sf.query("SELECT Id FORM Account")]


async def test_describe_describe_global_limits(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "GET",
        rf"{BASE}/sobjects/Account/describe",
        httpx.Response(200, json={"name": "Account", "fields": [{"name": "Id"}]}),
    )
    fake.on(
        "GET",
        rf"{BASE}/sobjects",
        httpx.Response(200, json={"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [{"name": "Account"}]}),
    )
    fake.on(
        "GET", rf"{BASE}/limits", httpx.Response(200, json={"DailyApiRequests": {"Max": 15000, "Remaining": 14998}})
    )
    async with make_client() as sf:
        assert (await sf.describe("Account"))["fields"] == [{"name": "Id"}]
        assert (await sf.describe_global())["sobjects"] == [{"name": "Account"}]
        assert (await sf.limits())["DailyApiRequests"]["Max"] == 15000


async def test_call_options_header_on_every_request_and_limit_info_from_every_response(
    make_client: ClientFactory, fake: FakeSalesforce
) -> None:
    fake.on("GET", rf"{BASE}/limits", httpx.Response(200, json={}))
    fake.on(
        "GET",
        rf"{BASE}/sobjects/Nope/describe",
        httpx.Response(
            404,
            json=[{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
            headers={"Sforce-Limit-Info": "api-usage=77/15000; per-app-api-usage=3/250(appName=x)"},
        ),
    )
    reported: list[LimitInfo] = []
    async with make_client(on_limit_info=reported.append, call_options_client="bridge-test") as sf:
        await sf.limits()
        assert sf.last_limit_info == LimitInfo(1, 15000)
        with pytest.raises(InvalidRequest):
            await sf.describe("Nope")
        assert sf.last_limit_info == LimitInfo(77, 15000)
    assert reported == [LimitInfo(1, 15000), LimitInfo(77, 15000)]
    assert len(fake.requests) == 3  # token + 2
    assert {r.headers["Sforce-Call-Options"] for r in fake.requests} == {"client=bridge-test"}


async def test_metrics_count_calls_by_kind_and_outcome(
    make_client: ClientFactory, fake: FakeSalesforce, metrics: Metrics
) -> None:
    fake.on(
        "GET",
        rf"{BASE}/limits",
        httpx.Response(200, json={}),
        sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    )
    async with make_client() as sf:
        await sf.limits()
        with pytest.raises(RequestLimitExceeded):
            await sf.limits()
    assert calls(metrics, "auth", "ok") == 1
    assert calls(metrics, "limits", "ok") == 1
    assert calls(metrics, "limits", "http_403") == 1
    assert metrics.registry.get_sample_value("bridge_salesforce_limit_errors_total") == 1
    assert metrics.registry.get_sample_value("bridge_api_budget_used_calls") == 2


INVALID_SESSION = sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


async def test_invalid_session_refreshes_once_and_resends(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on("GET", rf"{BASE}/limits", INVALID_SESSION, httpx.Response(200, json={"ok": True}))
    async with make_client() as sf:
        assert await sf.limits() == {"ok": True}
    assert fake.tokens_issued == 2
    assert fake.authorizations == [f"Bearer {TOKEN_PREFIX}1", f"Bearer {TOKEN_PREFIX}2"]


async def test_second_invalid_session_raises_instead_of_looping(
    make_client: ClientFactory, fake: FakeSalesforce, metrics: Metrics
) -> None:
    fake.on("GET", rf"{BASE}/limits", INVALID_SESSION)
    async with make_client() as sf:
        with pytest.raises(SessionExpired):
            await sf.limits()
    assert fake.tokens_issued == 2
    assert len(fake.api_requests()) == 2
    assert calls(metrics, "limits", "http_401") == 2


async def test_a_401_that_is_not_invalid_session_is_not_refreshed(
    make_client: ClientFactory, fake: FakeSalesforce
) -> None:
    fake.on("GET", rf"{BASE}/limits", sf_error(401, "INVALID_AUTH_HEADER", "bad header"))
    async with make_client() as sf:
        with pytest.raises(SessionExpired):
            await sf.limits()
    assert fake.tokens_issued == 1


def test_concurrent_expiry_refreshes_once() -> None:
    """Two requests signed with the same expired token: the second reuses the first one's refresh."""
    auth = ClientCredentials(LOGIN_URL, "3MVG9app", SecretStr(CLIENT_SECRET))
    auth.session = Session(SecretStr("old"), INSTANCE_URL, datetime.now(tz=UTC))
    token = httpx.Response(200, json={"access_token": "new", "instance_url": INSTANCE_URL})
    first = auth.auth_flow(httpx.Request("GET", f"{INSTANCE_URL}{BASE}/limits"))
    second = auth.auth_flow(httpx.Request("GET", f"{INSTANCE_URL}{BASE}/limits"))
    assert next(first).headers["Authorization"] == "Bearer old"
    assert next(second).headers["Authorization"] == "Bearer old"
    assert first.send(INVALID_SESSION).url.path == "/services/oauth2/token"
    assert first.send(token).headers["Authorization"] == "Bearer new"
    assert second.send(INVALID_SESSION).headers["Authorization"] == "Bearer new"  # no second token request
    for flow in (first, second):
        with pytest.raises(StopIteration):
            flow.send(INVALID_SESSION)  # a second 401 ends the flow: the client raises SessionExpired


def _raise(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "instance_url": INSTANCE_URL})
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc", "maybe_applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
    ],
)
async def test_transport_errors(
    make_client: ClientFactory, fake: FakeSalesforce, metrics: Metrics, exc: Exception, maybe_applied: bool
) -> None:
    fake.handle = _raise(exc).handler  # type: ignore[assignment,method-assign]
    async with make_client() as sf:
        with pytest.raises(TransportError) as raised:
            await sf.upsert("Account", "Ext_Id__c", "A", {"Name": "x"})
    assert raised.value.maybe_applied is maybe_applied
    assert raised.value.retryable
    assert calls(metrics, "upsert", "transport_error") == 1


async def test_using_the_client_outside_its_context_is_an_error(make_client: ClientFactory) -> None:
    async with make_client() as sf:
        pass
    with pytest.raises(RuntimeError, match="async context manager"):
        await sf.limits()


def test_runtime_never_imports_the_emulator() -> None:
    import subprocess
    import sys

    probe = "import sys, bridge.salesforce; print(sorted(m for m in sys.modules if m.startswith('bridge.emulator')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_session_for_other_apis_and_its_refresh(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    answer = fake.handle

    async def slow_token_endpoint(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # both refreshes are waiting before the first one has its token
        return answer(request)

    fake.handle = slow_token_endpoint  # type: ignore[assignment,method-assign]
    async with make_client() as sf:
        first = await sf.session()
        assert await sf.session() is first
        refreshed = await asyncio.gather(sf.session(refresh=True), sf.session(refresh=True))
    assert first.access_token.get_secret_value() == f"{TOKEN_PREFIX}1"
    assert first.instance_url == INSTANCE_URL
    assert refreshed[0] is refreshed[1]
    assert refreshed[0].access_token.get_secret_value() == f"{TOKEN_PREFIX}2"
    assert fake.tokens_issued == 2


async def test_a_non_json_success_is_server_unavailable(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    fake.on(
        "GET",
        rf"{BASE}/limits",
        httpx.Response(200, text="<html>proxy login</html>", headers={"Content-Type": "text/html"}),
    )
    async with make_client() as sf:
        with pytest.raises(ServerUnavailable, match="text/html"):
            await sf.limits()
