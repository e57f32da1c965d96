"""`crm-bridge catalog` as a user runs it: a real process reading the emulator over a real socket."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from bridge.catalog.snapshot import load_snapshot
from bridge.cli.main import main
from bridge.emulator import EmulatorServer, Org, load_profile

pytestmark = pytest.mark.timeout(120)


def env_for(server: EmulatorServer, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
        "BRIDGE_SALESFORCE__LOGIN_URL": server.url,
        "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
        "BRIDGE_SALESFORCE__CLIENT_ID": "emulator-client-id",
        "BRIDGE_SALESFORCE__CLIENT_SECRET": "emulator-client-secret",
        "COLUMNS": "160",
        **extra,
    }


async def run_catalog(server: EmulatorServer, *args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "catalog",
        *args,
        env=env_for(server, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 110)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_catalog_all_documents_the_messy_org_with_diagrams_and_a_summary(tmp_path: Path) -> None:
    org = Org(load_profile("messy"))
    async with EmulatorServer(org) as server:
        code, _, stderr = await run_catalog(server, "--all", "--out", str(tmp_path))
    assert code == 0, stderr
    documented = {p.stem for p in tmp_path.glob("*.md")} - {"README", "findings"}
    custom = {name for name, spec in org.profile.objects.items() if spec.custom}
    assert custom <= documented
    assert {"Account", "Contact", "Case", "Opportunity", "Product2", "Asset"} <= documented
    assert not {"Lead", "Campaign", "Pricebook2", "Order"} & documented
    assert (tmp_path / "diagrams" / "overview.svg").read_bytes().startswith(b"<?xml")
    assert (tmp_path / "diagrams" / "Invoice__c.svg").is_file()
    assert "```mermaid" in (tmp_path / "README.md").read_text()
    findings = (tmp_path / "findings.md").read_text()
    assert "| error | required_unmapped | [Account](Account.md) | Customer_Tier__c |" in findings
    assert "| info | naming | [Opportunity](Opportunity.md) | erpDealID__c |" in findings
    # Quiet: a progress bar and a summary, no request log lines (and no secret).
    assert "HTTP Request" not in stderr
    assert "Reading the org" in stderr
    assert f"Documented {len(documented)} objects" in stderr
    assert "Findings: 2 error" in stderr
    assert "emulator-client-secret" not in stderr
    model = load_snapshot(tmp_path)  # the validation snapshot is still written
    assert "ERP_Customer_Id__c" in model.objects["Account"].external_id_fields


async def test_debug_logging_shows_the_request_lines(tmp_path: Path) -> None:
    async with EmulatorServer(Org()) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "--log-level", "DEBUG", "catalog", "--sobject", "Account",
            "--out", str(tmp_path), env=env_for(server), stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 110)
    assert process.returncode == 0
    assert "HTTP Request: GET" in stderr.decode()


async def test_catalog_defaults_to_the_mapped_objects_and_says_so(tmp_path: Path) -> None:
    async with EmulatorServer(Org()) as server:
        code, _, stderr = await run_catalog(server, "--out", str(tmp_path))
    assert code == 0, stderr
    model = load_snapshot(tmp_path)
    assert set(model.objects) == {"Account", "Opportunity"}
    assert "Account_Phone_Format" in {rule.name for rule in model.rules["Account"]}
    assert "Account_Phone_Format" in (tmp_path / "Account.md").read_text()
    assert "--all documents the whole org" in stderr


async def test_catalog_without_mappings_documents_the_whole_org(tmp_path: Path) -> None:
    empty = tmp_path / "schemas"
    (empty / "mappings").mkdir(parents=True)
    async with EmulatorServer(Org()) as server:
        code, _, stderr = await run_catalog(
            server, "--out", str(tmp_path / "out"), BRIDGE_PROCESSOR__SCHEMAS_DIR=str(empty)
        )
    assert code == 0, stderr
    documented = set(load_snapshot(tmp_path / "out").objects)
    assert {"Invoice__c", "Integration_Bypass__c", "Order_Event__e"} <= documented
    assert "Account" in documented  # empty, but Invoice__c looks it up
    assert "Contact" not in documented  # empty and looked up by no custom object
    assert "Left out 2 standard objects without data (Contact, Opportunity); --include adds them." in stderr


async def test_json_format_prints_the_catalog(tmp_path: Path) -> None:
    async with EmulatorServer(Org(load_profile("messy"))) as server:
        code, stdout, stderr = await run_catalog(server, "--all", "--format", "json", "--out", str(tmp_path))
    assert code == 0, stderr
    document = orjson.loads(stdout)
    assert document == orjson.loads((tmp_path / "catalog.json").read_bytes())
    kinds = {f["kind"] for f in document["findings"]}
    assert {"naming", "trigger_not_bypassed", "external_id_not_unique", "rule_not_evaluable"} <= kinds


async def test_render_from_a_snapshot_and_refuse_without_an_org(tmp_path: Path) -> None:
    async with EmulatorServer(Org(load_profile("messy"))) as server:
        code, _, stderr = await run_catalog(server, "--all", "--out", str(tmp_path / "snap"))
    assert code == 0, stderr
    runner = CliRunner()
    args = ["catalog", "--from-snapshot", str(tmp_path / "snap"), "--out", str(tmp_path / "docs")]
    result = runner.invoke(main, [*args, "--exclude", "*__c"])
    assert result.exit_code == 0, result.output
    pages = {p.stem for p in (tmp_path / "docs").glob("*.md")} - {"README", "findings"}
    assert "Invoice__c" not in pages
    assert {"Account", "Opportunity", "Shipment_Event__e"} <= pages
    refused = runner.invoke(main, ["catalog", "--out", str(tmp_path / "x")], env={"BRIDGE_SALESFORCE__CLIENT_ID": ""})
    assert refused.exit_code == 1
    assert "--from-snapshot" in refused.output
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    unwritable = runner.invoke(main, [*args[:3], "--out", str(blocked / "sub")])
    assert unwritable.exit_code == 1
    assert "cannot write the catalog" in unwritable.output
    bad_schemas = tmp_path / "bad-schemas"
    (bad_schemas / "mappings").mkdir(parents=True)
    (bad_schemas / "mappings" / "x.json").write_text("{not json")
    bad = runner.invoke(main, args, env={"BRIDGE_PROCESSOR__SCHEMAS_DIR": str(bad_schemas)})
    assert bad.exit_code == 1
    assert "cannot read the mappings" in bad.output
    broken = tmp_path / "broken"
    (broken / "describe").mkdir(parents=True)
    unreadable = runner.invoke(main, ["catalog", "--from-snapshot", str(broken), "--out", str(tmp_path / "y")])
    assert unreadable.exit_code == 1
    assert "no describe files" in unreadable.output
