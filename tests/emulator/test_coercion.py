"""The emulator's REST write path reads JSON values as the coercion table says, over a real socket.

Each accepted case is created and read back (the stored form); each refused one must answer its error code.
The same table (`coercion_cases.py`) drives the pre-validator's test, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import httpx
import pytest

from bridge.emulator import EmulatorServer, Org
from bridge.emulator.profile import Profile, parse_profile
from tests.emulator.coercion_cases import CASES, FIELDS, KEY_PREFIX, OBJECT, Case

pytestmark = pytest.mark.timeout(60)
API = "/services/data/v62.0"


def coercion_profile() -> Profile:
    """The default org plus the test object, one field per type."""
    raw = json.loads(resources.files("bridge.emulator.profiles").joinpath("default.json").read_text("utf-8"))
    name = {"name": "Name", "type": "string", "label": "Name", "length": 80}
    test_object = {"name": OBJECT, "label": "Coercion", "label_plural": "Coercions", "key_prefix": KEY_PREFIX,
                   "custom": True, "fields": [name, *FIELDS]}  # fmt: skip
    return parse_profile({**raw, "objects": [*raw["objects"], test_object]})


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with EmulatorServer(Org(coercion_profile())) as server, httpx.AsyncClient(base_url=server.url) as client:
        token = await client.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "emulator-client-id",
                  "client_secret": "emulator-client-secret"},
        )  # fmt: skip
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def written(api: httpx.AsyncClient, case: Case) -> tuple[str, Any]:
    """("stored", the value read back) or ("refused", the error code)."""
    created = await api.post(f"{API}/sobjects/{OBJECT}/", json={"Name": "coercion", case.field: case.sent})
    if created.status_code != 201:
        return "refused", created.json()[0]["errorCode"]
    record = await api.get(f"{API}/sobjects/{OBJECT}/{created.json()['id']}", params={"fields": case.field})
    assert record.status_code == 200, record.text
    return "stored", record.json()[case.field]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_the_rest_write_path_reads_values_as_the_table_says(api: httpx.AsyncClient, case: Case) -> None:
    expected = ("refused", case.error) if case.error else ("stored", case.stored)
    assert await written(api, case) == expected, case.why
