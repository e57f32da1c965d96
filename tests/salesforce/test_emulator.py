"""The client against the Salesforce emulator: in process (ASGI) for most, over a real socket where it matters."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, LatencyModel, Org, create_app, load_profile
from bridge.emulator.profile import ConnectedApp
from bridge.metrics import Metrics
from bridge.salesforce import (
    ApexCpuLimit,
    ClientCredentials,
    InvalidRequest,
    JwtBearer,
    LimitInfo,
    NotFound,
    ParentNotFound,
    RequestLimitExceeded,
    RolledBack,
    SalesforceClient,
    ServerUnavailable,
    TransportError,
)
from tests.salesforce.conftest import calls
from tests.salesforce.test_client import HOSTILE_IDS, PATH_SAFE_IDS

LOGIN = "http://emulator.test"
CLIENT_ID = "emulator-client-id"
SECRET = SecretStr("emulator-client-secret")

Connect = Callable[..., AbstractAsyncContextManager[SalesforceClient]]


@pytest.fixture
def org() -> Org:
    return Org()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.create(CollectorRegistry())


@pytest.fixture
def connect(org: Org, metrics: Metrics) -> Connect:
    """A client on `org` through `httpx.ASGITransport` (no socket)."""

    @asynccontextmanager
    async def build(client_id: str = CLIENT_ID, **kwargs: Any) -> AsyncIterator[SalesforceClient]:
        settings = SalesforceSettings(login_url=LOGIN, client_id=client_id, call_options_client="bridge-under-test")
        transport = httpx.ASGITransport(create_app(org))
        async with SalesforceClient(
            settings, ClientCredentials(LOGIN, client_id, SECRET), transport=transport, metrics=metrics, **kwargs
        ) as sf:
            yield sf

    return build


async def test_upsert_creates_then_updates(connect: Connect, org: Org) -> None:
    async with connect() as sf:
        first = await sf.upsert("Account", "External_Id__c", "ACME-1", {"Name": "Acme"})
        second = await sf.upsert("Account", "External_Id__c", "ACME-1", {"Name": "Acme Corp"})
        record = await sf.get("Account", first.id or "", ["Name", "External_Id__c"])
    assert first.created
    assert not second.created
    assert second.id == first.id
    assert record["Name"] == "Acme Corp"
    assert org.count("Account") == 1


async def test_create_update_get_delete(connect: Connect, org: Org) -> None:
    async with connect() as sf:
        created = await sf.create("Contact", {"LastName": "Lovelace"})
        assert created.id is not None
        await sf.update("Contact", created.id, {"FirstName": "Ada"})
        contact = await sf.get("Contact", created.id, ["FirstName", "LastName"])
        await sf.delete("Contact", created.id)
        with pytest.raises(NotFound):
            await sf.get("Contact", created.id)
    assert created.created
    assert (contact["FirstName"], contact["LastName"]) == ("Ada", "Lovelace")


async def test_hostile_external_ids_round_trip(connect: Connect, org: Org) -> None:
    path_safe = list(PATH_SAFE_IDS)
    async with connect() as sf:
        created = {
            value: await sf.upsert("Account", "External_Id__c", value, {"Name": f"hostile {i}"})
            for i, value in enumerate(path_safe)
        }
        again = {value: await sf.upsert("Account", "External_Id__c", value, {"Name": "again"}) for value in path_safe}
        fetched = {
            value: (await sf.get_by_external_id("Account", "External_Id__c", value))["Id"] for value in path_safe
        }
        # Every value, the ones no URL path can carry included, goes through Collections: the value is in the body.
        records = [{"External_Id__c": value, "Name": "collection"} for value in HOSTILE_IDS]
        collected = await sf.upsert_collection("Account", "External_Id__c", records, all_or_none=True)
        stored = {r["External_Id__c"]: r["Id"] async for r in sf.query("SELECT Id, External_Id__c FROM Account")}
        await sf.delete_by_external_id("Account", "External_Id__c", path_safe[0])
        with pytest.raises(NotFound):
            await sf.get_by_external_id("Account", "External_Id__c", path_safe[0])
    assert all(result.created for result in created.values())
    assert not any(result.created for result in again.values())
    assert fetched == {value: result.id for value, result in created.items()}
    assert [r.created for r in collected] == [value not in created for value in HOSTILE_IDS]
    assert set(stored) == set(HOSTILE_IDS)
    assert {v: stored[v] for v in path_safe} == {value: result.id for value, result in created.items()}


async def test_collection_isolates_the_bad_record(connect: Connect, org: Org) -> None:
    records = [{"External_Id__c": f"C-{i}", "Name": f"Company {i}"} for i in range(200)]
    records[57] = {**records[57], "AnnualRevenue": -1}
    async with connect() as sf:
        atomic = await sf.upsert_collection("Account", "External_Id__c", records, all_or_none=True)
        assert org.count("Account") == 0
        partial = await sf.upsert_collection("Account", "External_Id__c", records, all_or_none=False)
    assert atomic[57].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert atomic[57].errors[0].exception_type is InvalidRequest
    assert {r.errors[0].exception_type for i, r in enumerate(atomic) if i != 57} == {RolledBack}
    assert [i for i, r in enumerate(partial) if not r.success] == [57]
    assert sum(r.created for r in partial) == 199
    assert org.count("Account") == 199


async def test_missing_parent_is_retryable(connect: Connect) -> None:
    opportunity = {
        "External_Id__c": "O-1",
        "Name": "Deal",
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "Account": {"External_Id__c": "NOT-YET"},
    }
    async with connect() as sf:
        [waiting] = await sf.upsert_collection("Opportunity", "External_Id__c", [opportunity], all_or_none=True)
        await sf.upsert("Account", "External_Id__c", "NOT-YET", {"Name": "Parent"})
        [written] = await sf.upsert_collection("Opportunity", "External_Id__c", [opportunity], all_or_none=True)
    assert waiting.errors[0].exception_type is ParentNotFound
    assert waiting.errors[0].exception_type.retryable
    assert written.success
    assert written.created


async def test_apex_cpu_limit_says_smaller_batches_help(connect: Connect, org: Org) -> None:
    """A user without the trigger bypass: 200 Accounts exceed 10 s of trigger CPU, 50 do not."""
    records = [{"External_Id__c": f"CPU-{i}", "Name": f"Cpu {i}"} for i in range(200)]
    async with connect(client_id="emulator-human-client-id") as sf:
        full = await sf.upsert_collection("Account", "External_Id__c", records, all_or_none=True)
        smaller = await sf.upsert_collection("Account", "External_Id__c", records[:50], all_or_none=True)
    kinds = {error.exception_type for result in full for error in result.errors}
    assert ApexCpuLimit in kinds
    assert kinds <= {ApexCpuLimit, RolledBack}
    assert all(result.success for result in smaller)
    assert org.count("Account") == 50


async def test_composite_references(connect: Connect) -> None:
    async with connect() as sf:
        base = sf.base_path
        responses = await sf.composite(
            [
                {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "acc", "body": {"Name": "Parent"}},
                {
                    "method": "POST",
                    "url": f"{base}/sobjects/Contact",
                    "referenceId": "con",
                    "body": {"LastName": "Child", "AccountId": "@{acc.id}"},
                },
            ],
            all_or_none=True,
        )
        contact = await sf.get("Contact", responses[1].body["id"], ["AccountId"])
    assert [r.http_status for r in responses] == [201, 201]
    assert contact["AccountId"] == responses[0].body["id"]


async def test_query_pages_describe_and_limits(connect: Connect, org: Org) -> None:
    reported: list[LimitInfo] = []
    async with connect(on_limit_info=reported.append) as sf:
        for start in (0, 200):
            batch = [{"External_Id__c": f"Q-{i}", "Name": f"Q {i}"} for i in range(start, start + 200)]
            await sf.upsert_collection("Account", "External_Id__c", batch[: 250 - start], all_or_none=True)
        names = [r["Name"] async for r in sf.query("SELECT Name FROM Account ORDER BY Name", batch_size=200)]
        await sf.delete("Account", (await sf.upsert("Account", "External_Id__c", "Q-0", {})).id or "")
        with_deleted = [r async for r in sf.query_all("SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true")]
        describe = await sf.describe("Account")
        described = await sf.describe_global()
        limits = await sf.limits()
        rules = await sf.tooling_query("SELECT Id, ValidationName FROM ValidationRule")
    assert len(names) == 250
    assert len(with_deleted) == 1
    assert "External_Id__c" in {f["name"] for f in describe["fields"]}
    assert "Account" in {s["name"] for s in described["sobjects"]}
    assert any(r["ValidationName"] == "Account_Revenue_Not_Negative" for r in rules)
    daily = limits["DailyApiRequests"]
    assert reported[-1].limit == daily["Max"]
    assert reported == sorted(reported)
    assert calls_logged(org, "bridge-under-test") == len(org.call_log)


def calls_logged(org: Org, client: str) -> int:
    return sum(1 for entry in org.call_log if entry.client == client)


async def test_expired_session_is_refreshed_transparently(connect: Connect, org: Org, metrics: Metrics) -> None:
    async with connect() as sf:
        await sf.limits()
        org.sessions.expire()
        assert (await sf.upsert("Account", "External_Id__c", "S-1", {"Name": "after expiry"})).created
    assert calls(metrics, "auth", "ok") == 2
    assert calls(metrics, "upsert", "http_401") == 1
    assert calls(metrics, "upsert", "ok") == 1


async def test_limit_exceeded_and_unavailable(org: Org, metrics: Metrics) -> None:
    small = Org(daily_limit=3)
    settings = SalesforceSettings(login_url=LOGIN, client_id=CLIENT_ID)
    async with SalesforceClient(
        settings,
        ClientCredentials(LOGIN, CLIENT_ID, SECRET),
        transport=httpx.ASGITransport(create_app(small)),
        metrics=metrics,
    ) as sf:
        small.faults.add("unavailable", path="/services/data", count=1)
        with pytest.raises(ServerUnavailable):
            await sf.limits()
        for _ in range(3):
            try:
                await sf.limits()
            except RequestLimitExceeded:
                break
        with pytest.raises(RequestLimitExceeded) as raised:
            await sf.limits()
        assert sf.last_limit_info is not None
        assert sf.last_limit_info.limit == 3
    assert not raised.value.retryable
    assert metrics.registry.get_sample_value("bridge_salesforce_limit_errors_total")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_over_a_socket_jwt_bearer_and_a_dropped_write(rsa_key: rsa.RSAPrivateKey) -> None:
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    profile = load_profile("default")
    app = ConnectedApp("jwt-app", "jwt-client-id", "unused", "integration@emulator.example", public.decode())
    org = Org(dataclasses.replace(profile, connected_apps=(*profile.connected_apps, app)))
    async with EmulatorServer(org) as server:
        settings = SalesforceSettings(login_url=server.url, client_id="jwt-client-id")
        auth = JwtBearer(
            server.url, "jwt-client-id", "integration@emulator.example", private_key_pem=SecretStr(private.decode())
        )
        async with SalesforceClient(settings, auth) as sf:
            org.faults.add("drop_after_write", method="PATCH", count=1)
            with pytest.raises(TransportError) as raised:
                await sf.upsert("Account", "External_Id__c", "DROP 1?", {"Name": "applied, answer lost"})
            retried = await sf.upsert("Account", "External_Id__c", "DROP 1?", {"Name": "applied, answer lost"})
    assert raised.value.maybe_applied
    assert not retried.created  # the first attempt was applied: the retry found it
    assert org.count("Account") == 1


async def test_over_a_socket_bulk_upsert() -> None:
    org = Org()
    records: list[dict[str, Any]] = [
        {"External_Id__c": f"B-{i}", "Name": f"Bulk {i}", "Phone": None} for i in range(450)
    ]
    records[300]["AnnualRevenue"] = -5
    async with EmulatorServer(org) as server:
        settings = SalesforceSettings(login_url=server.url, client_id=CLIENT_ID)
        async with SalesforceClient(settings, ClientCredentials(server.url, CLIENT_ID, SECRET)) as sf:
            result = await sf.bulk_upsert("Account", "External_Id__c", records, poll_interval_s=0.05, max_wait_s=60)
    assert result.state == "JobComplete"
    assert len(result.successful) == 449
    assert all(created for _, _, created in result.successful)
    assert [(r["External_Id__c"], error.split(":")[0]) for r, error in result.failed] == [
        ("B-300", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    ]
    assert result.unprocessed == []
    assert org.count("Account") == 449


async def test_over_a_socket_cancelling_a_bulk_upsert_aborts_its_job() -> None:
    org = Org(latency=LatencyModel(speed=1.0, request_ms=5.0, per_record_ms=20.0))  # a 200-record chunk: 4 s
    records = [{"External_Id__c": f"X-{i}", "Name": f"Cancelled {i}"} for i in range(450)]
    polling = asyncio.Event()

    async def park(delay_s: float) -> None:
        polling.set()
        await asyncio.sleep(3600)

    async with EmulatorServer(org) as server:
        settings = SalesforceSettings(login_url=server.url, client_id=CLIENT_ID)
        async with SalesforceClient(settings, ClientCredentials(server.url, CLIENT_ID, SECRET)) as sf:
            task = asyncio.create_task(sf.bulk_upsert("Account", "External_Id__c", records, sleep=park))
            await polling.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            jobs = (await sf.request("bulk", "GET", f"{sf.base_path}/jobs/ingest")).json()["records"]
    assert [job["state"] for job in jobs] == ["Aborted"]
    assert org.count("Account") < len(records)
