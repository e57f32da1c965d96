"""Limits and sessions: the rolling daily allocation with lockout and recovery, usage header, token expiry."""

from __future__ import annotations

import httpx
import pytest

from bridge.emulator import EmulatorClock, Org, create_app
from tests.emulator.conftest import API, FrozenTime, Login

pytestmark = pytest.mark.timeout(30)


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    token = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
def small_org() -> Org:
    return Org(clock=EmulatorClock(FrozenTime()), daily_limit=5)


async def test_lockout_until_the_rolling_window_frees_calls(small_org: Org) -> None:
    org = small_org
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(org)), base_url="https://e.test") as http:
        token = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret",
            },
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for _ in range(3):
            assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200
        org.clock.advance(3600)
        for _ in range(2):
            assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200
        refused = await http.get(f"{API}/limits", headers=auth)
        assert refused.status_code == 403
        assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        assert refused.headers["sforce-limit-info"] == "api-usage=5/5"
        org.clock.advance(23 * 3600 - 1)  # the first three calls are still inside the window
        auth = await _login(http)  # the session timed out meanwhile; logging in costs no API call
        assert (await http.get(f"{API}/limits", headers=auth)).status_code == 403
        org.clock.advance(2)  # now they have left it; the later two remain
        freed = await http.get(f"{API}/limits", headers=auth)
        assert freed.status_code == 200
        assert freed.json()["DailyApiRequests"] == {"Max": 5, "Remaining": 2}
        assert freed.headers["sforce-limit-info"] == "api-usage=3/5"


async def test_another_integration_spending_the_allocation(
    http: httpx.AsyncClient, auth: dict[str, str], org: Org
) -> None:
    org.api_usage.spend(1000)
    refused = await http.get(f"{API}/sobjects", headers=auth)
    assert refused.status_code == 403
    org.clock.advance(24 * 3600)
    assert (await http.get(f"{API}/sobjects", headers=await _login(http))).status_code == 200


async def test_calls_that_cost_nothing(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    await http.get("/services/data/", headers=auth)
    await http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "emulator-client-id", "client_secret": "x"},
    )
    await http.get(f"{API}/limits", headers={"Authorization": "Bearer nope"})
    assert org.api_usage.used() == 0


async def test_session_expires_after_idle_timeout(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    org.clock.advance(org.sessions.timeout_s - 1)
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200  # activity resets the timer
    org.clock.advance(org.sessions.timeout_s - 1)
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200
    org.clock.advance(org.sessions.timeout_s)
    expired = await http.get(f"{API}/limits", headers=auth)
    assert expired.status_code == 401
    assert expired.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


async def test_missing_or_unknown_token(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer made-up"}):
        response = await http.get(f"{API}/sobjects", headers=headers)
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


async def test_concurrent_long_running_limit(http: httpx.AsyncClient, auth: dict[str, str], org: Org) -> None:
    tickets = [org.concurrency.admit() for _ in range(org.concurrency.limit)]
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200  # short ones are fine
    org.clock.advance(20)
    refused = await http.get(f"{API}/limits", headers=auth)
    assert refused.status_code == 403
    assert refused.json()[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."
    for ticket in tickets:
        assert ticket is not None
        org.concurrency.release(ticket)
    assert (await http.get(f"{API}/limits", headers=auth)).status_code == 200


async def test_userinfo(http: httpx.AsyncClient, login: Login, org: Org) -> None:
    headers = await login()
    info = (await http.get("/services/oauth2/userinfo", headers=headers)).json()
    assert info["user_id"] == org.user().id
    assert info["organization_id"] == org.profile.org_id
