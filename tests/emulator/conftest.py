"""Fixtures for the emulator's tests: an org with a scripted clock and the app over an in-process transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bridge.emulator import EmulatorClock, Org, create_app

API = "/services/data/v62.0"
INTEGRATION = ("emulator-client-id", "emulator-client-secret")
HUMAN = ("emulator-human-client-id", "emulator-client-secret")


class FrozenTime:
    """A settable time source so tests decide when windows and sessions expire."""

    def __init__(self) -> None:
        self.now_s = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def org() -> Org:
    return Org(clock=EmulatorClock(FrozenTime()), daily_limit=1000)


@pytest.fixture
async def http(org: Org) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(org))
    async with httpx.AsyncClient(transport=transport, base_url="https://emulator.test") as client:
        yield client


Login = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def login(http: httpx.AsyncClient) -> Login:
    """Client-credentials login; returns request headers with the bearer token."""

    async def do(app: tuple[str, str] = INTEGRATION, client: str | None = "bridge-test") -> dict[str, str]:
        response = await http.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": app[0], "client_secret": app[1]},
        )
        assert response.status_code == 200, response.text
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        if client:
            headers["Sforce-Call-Options"] = f"client={client}"
        return headers

    return do


@pytest.fixture
async def auth(login: Login) -> dict[str, str]:
    return await login()
