"""The emulator on real sockets: HTTP and HTTPS with a generated certificate, dropped connections, Pub/Sub."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from bridge.emulator import EmulatorServer, LatencyModel, Org
from bridge.emulator.tls import write_self_signed
from tests.emulator.conftest import API

pytestmark = pytest.mark.timeout(60)


async def _token(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Sforce-Call-Options": "client=socket"}


async def test_https_with_a_generated_certificate() -> None:
    async with EmulatorServer(Org(), tls=True) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(server.certfile))
        async with httpx.AsyncClient(base_url=server.url, verify=context) as http:
            headers = await _token(http)
            response = await http.get(f"{API}/limits", headers=headers)
        assert response.status_code == 200
        assert response.headers["sforce-limit-info"] == "api-usage=1/100000"
        async with httpx.AsyncClient(base_url=server.url) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/services/data")


async def test_connection_dropped_after_the_write_was_applied() -> None:
    org = Org()
    async with EmulatorServer(org) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = await _token(http)
        org.faults.add("drop_after_write", method="PATCH", count=1)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.patch(f"{API}/sobjects/Account/External_Id__c/D-1", json={"Name": "Dropped"}, headers=headers)
        assert org.by_external_id("Account", "External_Id__c", "D-1") is not None  # the write happened
        retry = await http.patch(
            f"{API}/sobjects/Account/External_Id__c/D-1", json={"Name": "Dropped"}, headers=headers
        )
        assert retry.status_code == 200  # the retry finds the record: an update, not a duplicate


async def test_pubsub_target_serves_the_orgs_feed() -> None:
    org = Org()
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub_target is not None
        assert server.pubsub_target.startswith("127.0.0.1:")
        assert server.pubsub is not None
        assert server.pubsub.target == server.pubsub_target


async def test_latency_model_holds_the_rows_of_a_running_transaction() -> None:
    org = Org(latency=LatencyModel(request_ms=0, per_record_ms=300, speed=1.0))
    [parent] = org.insert_many("Account", [{"Name": "Parent"}])
    opp = {"Name": "O", "StageName": "Proposal", "CloseDate": "2026-01-01", "AccountId": parent["id"]}
    async with EmulatorServer(org) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = await _token(http)

        slow = asyncio.create_task(http.post(f"{API}/sobjects/Opportunity", json=opp, headers=headers))
        while org.locks.holder(parent["id"]) is None:  # the first transaction has saved and holds the parent
            await asyncio.sleep(0.01)
        waiting = await http.post(f"{API}/sobjects/Opportunity", json=opp, headers=headers)
        assert (await slow).status_code == 201
    assert waiting.status_code == 201  # it waited for the parent's lock, as Salesforce waits up to 10 s
    assert org.locks.stats.waits == 1
    assert org.locks.stats.timeouts == 0
    assert org.locks.stats.longest_wait_s > 0.1


async def test_https_with_a_given_certificate(tmp_path: Path) -> None:
    certfile, keyfile = write_self_signed(tmp_path, "127.0.0.1")
    async with EmulatorServer(Org(), certfile=certfile, keyfile=keyfile) as server:
        assert server.tls
        assert server.certfile == certfile
        context = ssl.create_default_context(cafile=str(certfile))
        async with httpx.AsyncClient(base_url=server.url, verify=context) as http:
            assert (await http.get("/services/data")).status_code == 200
