"""`crm-bridge catalog --out DIR` reading a live org (the emulator over a real socket) through the Salesforce client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bridge.catalog.snapshot import load_snapshot
from bridge.emulator import EmulatorServer, Org


async def test_catalog_reads_the_org_and_writes_docs_and_the_validation_snapshot(tmp_path: Path) -> None:
    org = Org()
    async with EmulatorServer(org) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
            "BRIDGE_SALESFORCE__LOGIN_URL": server.url,
            "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
            "BRIDGE_SALESFORCE__CLIENT_ID": "emulator-client-id",
            "BRIDGE_SALESFORCE__CLIENT_SECRET": "emulator-client-secret",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "catalog", "--out", str(tmp_path), env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    model = load_snapshot(tmp_path)
    assert set(model.objects) == {"Account", "Opportunity"}
    assert "ERP_Customer_Id__c" in model.objects["Account"].external_id_fields
    rule_names = {rule.name for rule in model.rules["Account"]}
    assert "Account_Phone_Format" in rule_names
    account_page = next(p for p in tmp_path.glob("*.md") if "Account" in p.name).read_text()
    assert "Account_Phone_Format" in account_page
    assert "emulator-client-secret" not in stderr.decode()
