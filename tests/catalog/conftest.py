"""The catalog's fixtures: the messy emulator org read through the real Salesforce client (in-process transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bridge.catalog.discovery import Selection
from bridge.catalog.fetch import SalesforceOrgReader, fetch_org
from bridge.catalog.model import Bypass, Org, OrgContext, build_org
from bridge.catalog.snapshot import OrgSnapshot
from bridge.config import SalesforceSettings
from bridge.emulator import Org as EmulatedOrg
from bridge.emulator import create_app, load_profile
from bridge.mediation.groups import load_trigger_map
from bridge.processing.mapping import Mappings, default_mappings_dir, load_mappings
from bridge.processing.rules import formula_compiler
from bridge.salesforce import ClientCredentials, SalesforceClient

LOGIN_URL = "https://emulator.test"


@asynccontextmanager
async def client_of(org: EmulatedOrg) -> AsyncIterator[SalesforceClient]:
    """The bridge's Salesforce client talking to `org` in-process."""
    settings = SalesforceSettings(login_url=LOGIN_URL, auth_flow="client_credentials", client_id="emulator-client-id")
    auth = ClientCredentials(LOGIN_URL, "emulator-client-id", SecretStr("emulator-client-secret"))
    async with SalesforceClient(settings, auth, transport=httpx.ASGITransport(app=create_app(org))) as client:
        yield client


class Recorder:
    """A `FetchProgress` that remembers what it was told."""

    def __init__(self) -> None:
        self.total = 0
        self.items: list[str] = []

    def planned(self, total: int) -> None:
        self.total += total

    def done(self, item: str) -> None:
        self.items.append(item)


@pytest.fixture(scope="session")
def shipped_mappings() -> Mappings:
    return load_mappings(default_mappings_dir())


def context_for(mappings: Mappings | None) -> OrgContext:
    triggers = load_trigger_map()
    bypass = Bypass((triggers.setting,), frozenset(triggers.triggers))
    return OrgContext(formula_compiler({}), mappings, bypass)


@pytest.fixture(scope="session")
async def messy_snapshot(shipped_mappings: Mappings) -> OrgSnapshot:
    """The messy org as `crm-bridge catalog --all` reads it (the shipped mappings' objects always kept)."""
    async with client_of(EmulatedOrg(load_profile("messy"))) as client:
        return await fetch_org(SalesforceOrgReader(client), Selection(always=shipped_mappings.sobjects))


@pytest.fixture(scope="session")
def messy(messy_snapshot: OrgSnapshot, shipped_mappings: Mappings) -> Org:
    return build_org(messy_snapshot, context_for(shipped_mappings))


def fields_by_name(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


Factory = Callable[..., Any]
