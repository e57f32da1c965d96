"""Mediation against the emulator over a real socket: the round trip, and what the bypass does to real writes.

The emulator's default profile has Integration_Bypass__c with All__c and a flag per trigger group, seeds the
integration user with everything bypassed, and charges each trigger's CPU per record: AccountTrigger (60 ms,
bypassable by Account_Triggers__c) over one 200-record chunk is 12 s, past the 10 s Apex CPU limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from bridge.cli.main import main
from bridge.cli.mediation import EXIT_BYPASS_OFF
from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, Org, load_profile
from bridge.emulator.mediation import trigger_map as emulator_map
from bridge.emulator.mediation import write_trigger_map as map_file
from bridge.mediation import Level, Mediation, TriggerState, bypass_check
from bridge.salesforce import ClientCredentials, SalesforceClient

CHUNK = 200


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(Org(load_profile("default"))) as running:
        yield running


def app_settings(server: EmulatorServer, app_name: str) -> SalesforceSettings:
    (app,) = [a for a in server.org.profile.connected_apps if a.name == app_name]
    return SalesforceSettings(
        login_url=server.url,
        auth_flow="client_credentials",
        client_id=app.client_id,
        client_secret=SecretStr(app.client_secret),
        username=app.run_as,
    )


def client(server: EmulatorServer, app_name: str = "crm-bridge") -> SalesforceClient:
    settings = app_settings(server, app_name)
    assert settings.client_id is not None
    assert settings.client_secret is not None
    return SalesforceClient(settings, ClientCredentials(server.url, settings.client_id, settings.client_secret))


def integration_username(server: EmulatorServer) -> str:
    return server.org.user().username


async def write_accounts(sf: SalesforceClient, prefix: str) -> list[str]:
    """One 200-record chunk of new accounts; the error codes of the failed records."""
    records = [{"External_Id__c": f"{prefix}-{i}", "Name": f"{prefix} {i}"} for i in range(CHUNK)]
    results = await sf.upsert_collection("Account", "External_Id__c", records, all_or_none=False)
    return [e.message for r in results for e in r.errors]


async def test_status_disable_enable_round_trip(server: EmulatorServer) -> None:
    username = integration_username(server)
    trigger_map = emulator_map(server.org.profile)
    async with client(server) as sf:
        mediation = Mediation(sf, trigger_map)
        seeded = await mediation.status(username)
        assert seeded.user_record is not None
        assert seeded.effective["All__c"].source is Level.USER
        assert set(seeded.bypassed) == {"AccountTrigger", "OpportunityTrigger", "ContactTrigger"}

        off = await mediation.disable(username)
        assert not off.bypass_on
        assert {t.state for t in off.triggers} == {TriggerState.RUNS}
        assert not any(server.org.bypass_for(server.org.user()).get(f) for f in trigger_map.flags)

        on = await mediation.enable(username, ["Account_Triggers"])
        assert on.bypassed == ("AccountTrigger",)
        assert on.user_record is not None
        assert on.user_record.id == seeded.user_record.id  # updated in place, never a second record
        assert server.org.bypass_for(server.org.user())["Account_Triggers__c"] is True
        assert await bypass_check(sf, username, trigger_map) == [
            "ContactTrigger still runs its Contact_Triggers__c handlers on sync writes.",
            "OpportunityTrigger still runs its Opportunity_Triggers__c handlers on sync writes.",
        ]


async def test_bypass_spares_integration_writes_but_not_human_ones(server: EmulatorServer) -> None:
    username = integration_username(server)
    async with client(server) as sync, client(server, "human-app") as human:
        mediation = Mediation(sync, emulator_map(server.org.profile))
        await mediation.enable(username, ["Account_Triggers"])
        assert await write_accounts(sync, "SYNC-ON") == []
        human_errors = await write_accounts(human, "HUMAN")
        assert len(human_errors) == CHUNK
        assert all("Apex CPU time limit exceeded" in message for message in human_errors)

        await mediation.disable(username)
        sync_errors = await write_accounts(sync, "SYNC-OFF")
        assert len(sync_errors) == CHUNK
        assert "AccountTrigger" in sync_errors[0]
    assert server.org.count("Account") == CHUNK


async def test_cli_round_trip_over_the_socket(server: EmulatorServer, tmp_path: Path) -> None:
    settings = app_settings(server, "crm-bridge")
    env = {
        "BRIDGE_SALESFORCE__LOGIN_URL": server.url,
        "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
        "BRIDGE_SALESFORCE__CLIENT_ID": settings.client_id or "",
        "BRIDGE_SALESFORCE__CLIENT_SECRET": settings.client_secret.get_secret_value() if settings.client_secret else "",
        "BRIDGE_SALESFORCE__USERNAME": settings.username or "",
        "COLUMNS": "200",
    }
    trigger_map = map_file(emulator_map(server.org.profile), tmp_path / "emulator.toml")

    async def crm_bridge(*args: str) -> tuple[int, str]:
        # The CLI runs its own event loop, so it runs in a thread while this loop serves the emulator.
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["mediation", *args, "--map", str(trigger_map)], env=env
        )
        return result.exit_code, result.output

    code, output = await crm_bridge("disable")
    assert code == 0, output
    code, output = await crm_bridge("status", "--exit-code")
    assert code == EXIT_BYPASS_OFF, output
    code, output = await crm_bridge("enable", "--group", "Contact_Triggers")
    assert code == 0, output
    assert "ContactTrigger" in output
    code, output = await crm_bridge("status", "--exit-code")
    assert code == 0, output
    assert server.org.bypass_for(server.org.user())["Contact_Triggers__c"] is True
