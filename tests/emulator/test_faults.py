"""Injected faults (503s, latency, lock errors, session expiry) and the control API that scripts them."""

from __future__ import annotations

import time

import httpx
import pytest

from bridge.emulator import Org
from bridge.emulator.faults import Faults
from tests.emulator.conftest import API

pytestmark = pytest.mark.timeout(30)

UPSERT = f"{API}/sobjects/Account/External_Id__c/F-1"


async def test_unavailable_for_the_next_n_matching_requests(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    org.faults.add("unavailable", path=f"{API}/sobjects", count=2)
    statuses = [(await http.patch(UPSERT, json={"Name": "F"}, headers=auth)).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200
    assert org.api_usage.used() == 2  # refused requests cost nothing


async def test_unavailable_body(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    org.faults.add("unavailable", method="GET")
    response = await http.get(f"{API}/limits", headers=auth)
    assert response.json() == [{"message": "Server Unavailable", "errorCode": "SERVER_UNAVAILABLE"}]


async def test_injected_latency(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    org.faults.add("latency", latency_ms=150)
    started = time.perf_counter()
    await http.get(f"{API}/limits", headers=auth)
    assert time.perf_counter() - started >= 0.15


async def test_session_expiry_fault(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    org.faults.add("expire_session", path=f"{API}/limits")
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 401
    assert (await http.get(f"{API}/sobjects", headers=auth)).status_code == 401  # the session is gone for good


async def test_lock_error_rate_is_seeded() -> None:
    def draws(seed: int) -> list[bool]:
        faults = Faults(seed=seed, lock_error_rate=0.3)
        return [faults.lock_fails() for _ in range(50)]

    assert draws(7) == draws(7)
    assert 0 < sum(draws(7)) < 50


async def test_lock_errors_in_collections(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    org.faults.lock_error_rate = 1.0
    records = [{"attributes": {"type": "Account"}, "External_Id__c": "L-1", "Name": "L"}]
    response = await http.patch(
        f"{API}/composite/sobjects/Account/External_Id__c", json={"records": records}, headers=auth
    )
    error = response.json()[0]["errors"][0]
    assert error["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert error["message"].startswith("unable to obtain exclusive access to this record")
    assert org.count("Account") == 0


def test_concurrent_transactions_on_one_parent_lock() -> None:
    org = Org()
    [parent] = org.insert_many("Account", [{"Name": "Parent"}])
    opp = {"Name": "O", "StageName": "Proposal", "CloseDate": "2026-01-01", "AccountId": parent["id"]}
    from bridge.emulator.prepare import prepare_create

    spec = org.profile.objects["Opportunity"]
    _, running = org.save([prepare_create(spec, opp)], all_or_none=False, caller=org.caller())
    # `running` still holds its rows (its simulated duration has not passed); a second writer collides.
    [blocked] = org.insert_many("Opportunity", [opp])
    assert blocked["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert parent["id"] in blocked["errors"][0]["message"]
    org.release(running)
    assert org.insert_many("Opportunity", [opp])[0]["success"]


async def test_control_api(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    added = await http.post("/__emulator__/faults", json={"kind": "unavailable", "count": 1})
    assert added.json()["rules"][0]["kind"] == "unavailable"
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 503
    assert (await http.post("/__emulator__/faults", json={"kind": "nope"})).status_code == 400
    await http.delete("/__emulator__/faults")
    assert org.faults.rules == []
    before = org.clock()
    await http.post("/__emulator__/clock/advance", json={"seconds": 60})
    assert org.clock() == before + 60
    await http.post("/__emulator__/api-usage", json={"calls": 10})
    assert org.api_usage.used() == 10
    await http.patch(UPSERT, json={"Name": "F"}, headers=auth)
    found = (await http.get("/__emulator__/records/Account?field=External_Id__c&value=F-1")).json()
    assert found[0]["Name"] == "F"
    calls = (await http.get("/__emulator__/calls")).json()
    assert calls[-1]["path"] == UPSERT
    assert calls[-1]["client"] == "bridge-test"
    state = (await http.get("/__emulator__/state")).json()
    assert state["records"]["Account"] == 1
    await http.post("/__emulator__/sessions/expire")
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 401


async def test_lock_fault_for_the_next_matching_request(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    org.faults.add("unable_to_lock_row", path=f"{API}/sobjects/Account", count=1)
    locked = await http.patch(UPSERT, json={"Name": "F"}, headers=auth)
    assert locked.status_code == 400
    assert locked.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert (await http.patch(UPSERT, json={"Name": "F"}, headers=auth)).status_code == 201


async def test_a_fault_rate_hits_about_that_share_of_requests_and_repeats_with_its_seed(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    org.faults.reseed(11)
    org.faults.add("unavailable", method="GET", count=None, rate=0.2)
    first = [(await http.get(f"{API}/limits", headers=auth)).status_code for _ in range(200)]
    assert 20 <= first.count(503) <= 60
    assert set(first) == {200, 503}
    org.faults.clear()
    org.faults.reseed(11)
    org.faults.add("unavailable", method="GET", count=None, rate=0.2)
    assert [(await http.get(f"{API}/limits", headers=auth)).status_code for _ in range(200)] == first
    with pytest.raises(ValueError, match="fault rate"):
        org.faults.add("unavailable", rate=1.5)


async def test_a_retry_after_burst_says_how_long_to_wait(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    org.faults.add("unavailable", count=2, retry_after_s=1.5)
    answers = [await http.get(f"{API}/limits", headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["1.5", "1.5", None]
