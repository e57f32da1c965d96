"""Row locks that wait: a save meeting a row a concurrent transaction holds waits for it, up to 10 s.

Salesforce: "These locks normally last for a few seconds ... However, a given transaction can only wait a
maximum of 10 seconds for a lock to be released, otherwise it will time out" (knowledge article 000229525,
"Unable to lock row - Record currently unavailable errors"), and the error is UNABLE_TO_LOCK_ROW "unable to
obtain exclusive access to this record". The wait runs on emulated time: the org's clock and wall time
divided by the latency model's speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bridge.emulator import EmulatorClock, EmulatorServer, LatencyModel, Org, create_app
from bridge.emulator.locks import LockTimer
from bridge.emulator.prepare import prepare_create
from tests.emulator.conftest import API, FrozenTime

pytestmark = pytest.mark.timeout(60)
UPSERT = f"{API}/composite/sobjects/Opportunity/External_Id__c"


async def _token(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Sforce-Call-Options": "client=locks"}


def _children(prefix: str, count: int, amount: float) -> dict[str, Any]:
    records = [
        {
            "attributes": {"type": "Opportunity"},
            "External_Id__c": f"{prefix}-{i}",
            "Name": f"Deal {prefix}-{i}",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Amount": amount,
            "Account": {"External_Id__c": "PARENT-1"},  # the parent by external id: its row is locked too
        }
        for i in range(count)
    ]
    return {"allOrNone": True, "records": records}


async def _two_concurrent_batches(org: Org) -> tuple[httpx.Response, httpx.Response]:
    org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "PARENT-1", "Name": "Parent"}])
    parent = org.by_external_id("Account", "External_Id__c", "PARENT-1")
    assert parent is not None
    async with EmulatorServer(org) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = await _token(http)
        first = asyncio.create_task(http.patch(UPSERT, json=_children("A", 50, 10.0), headers=headers))
        while org.locks.holder(parent["Id"]) is None:  # the first batch has saved and holds its parent
            await asyncio.sleep(0.005)
        second = await http.patch(UPSERT, json=_children("B", 50, 1.0), headers=headers)
        return await first, second


async def test_a_concurrent_batch_on_the_same_parent_waits_and_succeeds() -> None:
    # 50 children x 20 ms + trigger CPU: about 1.3 s of emulated time, 0.13 s of wall time at speed 0.1.
    org = Org(latency=LatencyModel(request_ms=0, per_record_ms=20, speed=0.1))
    first, second = await _two_concurrent_batches(org)
    assert [r["success"] for r in first.json()] == [True] * 50
    assert [r["success"] for r in second.json()] == [True] * 50  # it waited for the parent, then saved
    assert org.locks.stats.waits == 1
    assert org.locks.stats.timeouts == 0
    assert 0.5 < org.locks.stats.longest_wait_s < 10
    parent = org.by_external_id("Account", "External_Id__c", "PARENT-1")
    assert parent is not None
    assert parent["Total_Opportunity_Amount__c"] == 50 * 10.0 + 50 * 1.0  # both roll-ups ran, one after the other


async def test_a_lock_held_past_ten_seconds_fails_the_waiter() -> None:
    # 50 children x 300 ms: 15 s of emulated time held; the waiter gives up after 10 s (0.5 s of wall time).
    org = Org(latency=LatencyModel(request_ms=0, per_record_ms=300, speed=0.05))
    first, second = await _two_concurrent_batches(org)
    assert [r["success"] for r in first.json()] == [True] * 50
    parent = org.by_external_id("Account", "External_Id__c", "PARENT-1")
    assert parent is not None
    errors = [r["errors"][0] for r in second.json() if r["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"]
    assert errors  # the locked records fail; with allOrNone the rest roll back
    assert errors[0]["message"] == f"unable to obtain exclusive access to this record or 1 records: {parent['Id']}"
    assert {r["errors"][0]["statusCode"] for r in second.json()} <= {
        "UNABLE_TO_LOCK_ROW",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    }
    assert org.locks.stats.timeouts == 1
    assert org.locks.stats.longest_wait_s >= 10
    assert org.count("Opportunity") == 50


async def _held(org: Org) -> tuple[str, Any]:
    """A transaction that saved an Opportunity and still holds its parent Account (no request releases it)."""
    [parent] = org.insert_many("Account", [{"Name": "Parent", "External_Id__c": "PARENT-1"}])
    opp = {"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-01-01", "AccountId": parent["id"]}
    _, running = org.save(
        [prepare_create(org.profile.objects["Opportunity"], opp)], all_or_none=True, caller=org.caller()
    )
    return parent["id"], running


async def test_at_speed_zero_the_waiter_waits_until_the_holder_commits() -> None:
    org = Org(clock=EmulatorClock(FrozenTime()))
    parent_id, running = await _held(org)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(org)), base_url="https://e.test") as http:
        headers = await _token(http)
        waiter = asyncio.create_task(http.patch(UPSERT, json=_children("W", 1, 5.0), headers=headers))
        await asyncio.sleep(0.2)
        org.clock.advance(9.5)  # still inside the 10 s a lock waits
        await asyncio.sleep(0.2)
        assert not waiter.done()
        org.release(running)  # the holder commits
        answer = await waiter
    assert answer.json()[0]["success"] is True
    assert org.locks.stats.waits == 1
    assert org.locks.holder(parent_id) is None


async def test_at_speed_zero_a_waiter_times_out_when_the_clock_passes_ten_seconds() -> None:
    org = Org(clock=EmulatorClock(FrozenTime()))
    parent_id, running = await _held(org)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(org)), base_url="https://e.test") as http:
        headers = await _token(http)
        waiter = asyncio.create_task(
            http.post(f"{API}/sobjects/Opportunity", json=_children("T", 1, 1.0)["records"][0], headers=headers)
        )
        await asyncio.sleep(0.2)
        org.clock.advance(10)
        answer = await waiter
    org.release(running)
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": f"unable to obtain exclusive access to this record or 1 records: {parent_id}",
            "errorCode": "UNABLE_TO_LOCK_ROW",
            "fields": [],
        }
    ]
    assert org.locks.stats.timeouts == 1


async def test_the_lock_error_rate_still_fails_saves_at_once() -> None:
    org = Org()
    org.upsert_many("Account", "External_Id__c", [{"External_Id__c": "PARENT-1", "Name": "Parent"}])
    org.faults.lock_error_rate = 1.0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(org)), base_url="https://e.test") as http:
        headers = await _token(http)
        answer = await http.patch(UPSERT, json=_children("F", 2, 1.0), headers=headers)
    assert answer.json()[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert org.locks.stats.waits == 0  # an injected lock error does not wait: no lock is held


def test_the_timer_counts_clock_moves_and_scaled_wall_time() -> None:
    clock, wall = FrozenTime(), FrozenTime()
    frozen = LockTimer(clock, speed=0, wall=wall)
    scaled = LockTimer(clock, speed=0.1, wall=wall)
    wall.now_s += 0.5
    assert frozen.waited_s() == 0  # at speed 0 only the org's clock counts
    assert scaled.waited_s() == pytest.approx(5.0)
    clock.now_s += 10
    assert frozen.expired()
    assert scaled.expired()
    assert 0 < scaled.poll_s() <= 0.05
