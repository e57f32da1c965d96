"""`crm-bridge scaffold`: a draft mapping and schema that the project's checks accept and the processor and the
org take end to end."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from bridge.catalog.scaffold import Options, ScaffoldError, check_draft, property_name, scaffold
from bridge.catalog.snapshot import OrgSnapshot, parse_snapshot, write_snapshot
from bridge.cli.main import main
from bridge.emulator import EmulatorServer, load_profile
from bridge.emulator import Org as EmulatedOrg
from bridge.events import CloudEvent, SchemaRegistry
from bridge.events.schemas import DEFAULT_SCHEMAS_DIR
from bridge.processing.intake import to_inbound
from bridge.processing.mapping import load_mappings
from bridge.processing.pipeline import Pipeline, Rejected, Write
from bridge.processing.rules import compile_rules, formula_compiler
from bridge.processing.validation import Validator
from tests.catalog.conftest import client_of

EVENT_TYPE = "com.acme.billing.subscription.upserted"


@pytest.fixture
def snapshot_dir(messy_snapshot: OrgSnapshot, tmp_path: Path) -> Path:
    write_snapshot(tmp_path / "snap", messy_snapshot)
    return tmp_path / "snap"


def run_scaffold(snapshot_dir: Path, schemas: Path, *args: str) -> Any:
    command = ["scaffold", *args, "--from-snapshot", str(snapshot_dir), "--schemas-dir", str(schemas)]
    return CliRunner().invoke(main, command)


def test_the_draft_follows_describe(messy_snapshot: OrgSnapshot) -> None:
    describes = messy_snapshot.describes
    draft = scaffold(describes["Subscription__c"], describes, EVENT_TYPE)
    schema, mapping = draft.schema, draft.mapping
    assert schema["x-bridge"] == {
        "type": EVENT_TYPE,
        "topic": "domain.billing.subscription",
        "sobject": "Subscription__c",
        "external_id_field": "Subscription_Key__c",
        "key_property": "subscription_key",
        "sequence_property": "version",
        "lane": "bulk",
    }
    properties = schema["properties"]
    assert properties["subscription_key"]["maxLength"] == 40
    assert properties["status"] == {"enum": ["Trial", "Active", "Cancelled", None]}
    assert properties["start_date"] == {"type": ["string", "null"], "format": "date"}
    assert properties["account_erp_customer_id"]["maxLength"] == 80  # the parent's unique external ID
    assert mapping["fields"]["Account__r"] == {
        "from": "data.account_erp_customer_id",
        "parent": {"sobject": "Account", "external_id_field": "ERP_Customer_Id__c"},
    }
    assert mapping["fields"]["Plan__r"]["parent"] == {"sobject": "Plan__c", "external_id_field": "Plan_Code__c"}
    assert mapping["external_id_from"] == "data.subscription_key"
    invoice = scaffold(describes["Invoice__c"], describes, "com.acme.billing.invoice.upserted").schema
    assert {"name", "amount"} <= set(invoice["required"])
    assert invoice["properties"]["amount"] == {
        "type": "number",
        "exclusiveMinimum": -(10**14),
        "exclusiveMaximum": 10**14,
    }
    assert invoice["properties"]["name"] == {"type": "string", "maxLength": 80, "minLength": 1}


def test_what_cannot_be_scaffolded_says_why(messy_snapshot: OrgSnapshot) -> None:
    describes = messy_snapshot.describes
    with pytest.raises(ScaffoldError, match="no external ID field: add one"):
        scaffold(describes["Payment__c"], describes, "com.acme.billing.payment.upserted")
    with pytest.raises(ScaffoldError, match="not an event type"):
        scaffold(describes["Invoice__c"], describes, "Invoice Upserted")
    with pytest.raises(ScaffoldError, match=r"Legacy_Id__c, ERP_Customer_Id__c|they are: ERP_Customer_Id__c, Legacy"):
        scaffold(describes["Account"], describes, "com.acme.crm.account.upserted", Options(external_id_field="Nope__c"))
    broken = scaffold(describes["Invoice__c"], describes, "com.acme.billing.invoice.upserted")
    broken.schema["properties"]["amount"] = {"type": "no-such-type"}
    with pytest.raises(ScaffoldError, match="fails the project's checks"):
        check_draft(broken, DEFAULT_SCHEMAS_DIR / "envelope.schema.json")
    assert property_name("erpDealID__c") == "erp_deal_id"


def test_scaffold_writes_files_the_project_loads_and_keeps_existing_ones(snapshot_dir: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    result = run_scaffold(snapshot_dir, schemas, "Subscription__c", "--event-type", EVENT_TYPE, "--lane", "realtime")
    assert result.exit_code == 0, result.output
    assert f"wrote {schemas / 'events' / (EVENT_TYPE + '.schema.json')}" in result.output
    registry = SchemaRegistry.load(schemas)
    assert registry.spec(EVENT_TYPE).sobject == "Subscription__c"
    assert load_mappings(schemas / "mappings").by_type[EVENT_TYPE].lane.value == "realtime"
    again = run_scaffold(snapshot_dir, schemas, "Subscription__c", "--event-type", EVENT_TYPE)
    assert again.exit_code == 1
    assert "exists; --force overwrites it" in again.output
    forced = run_scaffold(snapshot_dir, schemas, "Subscription__c", "--event-type", EVENT_TYPE, "--force")
    assert forced.exit_code == 0, forced.output
    missing = run_scaffold(snapshot_dir, schemas, "Lead", "--event-type", "com.acme.crm.lead.upserted")
    assert missing.exit_code == 1
    assert "catalog it with --sobject Lead" in missing.output
    refused = run_scaffold(snapshot_dir, schemas, "Payment__c", "--event-type", "com.acme.billing.payment.upserted")
    assert refused.exit_code == 1
    assert "no external ID field" in refused.output


async def test_a_scaffolded_object_goes_through_the_processor_and_into_the_org(
    snapshot_dir: Path, messy_snapshot: OrgSnapshot, tmp_path: Path
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, schemas)  # beside the shipped mappings, as a user would add one
    result = run_scaffold(snapshot_dir, schemas, "Subscription__c", "--event-type", EVENT_TYPE)
    assert result.exit_code == 0, result.output
    registry = SchemaRegistry.load(schemas)
    mappings = load_mappings(schemas / "mappings")
    schema = orjson.loads((schemas / "events" / f"{EVENT_TYPE}.schema.json").read_bytes())
    data = {**schema["examples"][0], "account_erp_customer_id": "C-000001", "plan_plan_code": "PRO-M"}
    event = registry.check(CloudEvent(id="sub-1", source="billing://test", type=EVENT_TYPE, data=data))
    model = parse_snapshot(messy_snapshot)
    validator = Validator(model.objects, compile_rules(model.rules, model.objects, formula_compiler({})))
    decision = Pipeline(mappings, validator).process(to_inbound(event), {})
    assert isinstance(decision, Write), decision
    record = decision.record
    assert record.fields["Account__r"] == {"ERP_Customer_Id__c": "C-000001"}
    org = EmulatedOrg(load_profile("messy"))
    async with client_of(org) as client:
        results = await client.upsert_collection(record.sobject, record.external_id_field, [record.fields], True)
    assert [(r.success, r.created) for r in results] == [(True, True)]
    stored = org.by_external_id("Subscription__c", "Subscription_Key__c", data["subscription_key"])
    assert stored is not None
    assert stored["Account__c"] == org.by_external_id("Account", "ERP_Customer_Id__c", "C-000001")["Id"]
    assert stored["Status__c"] == data["status"]
    # The same draft refuses what the org would refuse, before any API call.
    active_without_start = {**data, "status": "Active", "start_date": None}
    bad = registry.check(CloudEvent(id="sub-2", source="billing://test", type=EVENT_TYPE, data=active_without_start))
    refused = Pipeline(mappings, validator).process(to_inbound(bad), {})
    assert isinstance(refused, Rejected)
    assert "Subscription_Active_Needs_Start" in refused.detail


async def test_scaffold_reads_the_object_and_its_parents_from_the_org(tmp_path: Path) -> None:
    env = {
        "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
        "BRIDGE_SALESFORCE__CLIENT_ID": "emulator-client-id",
        "BRIDGE_SALESFORCE__CLIENT_SECRET": "emulator-client-secret",
    }
    command = ["scaffold", "Order_Line__c", "--event-type", "com.acme.oms.order_line.upserted", "--all-fields"]
    async with EmulatorServer(EmulatedOrg(load_profile("messy"))) as server:
        env["BRIDGE_SALESFORCE__LOGIN_URL"] = server.url
        result = await asyncio.to_thread(CliRunner().invoke, main, [*command, "--schemas-dir", str(tmp_path)], env=env)
    assert result.exit_code == 1  # Order_Line__c has no external ID: said plainly, nothing written
    assert "Order_Line__c has no external ID field" in result.output
    assert not (tmp_path / "mappings").exists()
    async with EmulatorServer(EmulatedOrg(load_profile("messy"))) as server:
        env["BRIDGE_SALESFORCE__LOGIN_URL"] = server.url
        command = [
            "scaffold",
            "Sales_Order__c",
            "--event-type",
            "com.acme.oms.order.upserted",
            "--topic",
            "domain.oms.orders",
        ]
        result = await asyncio.to_thread(CliRunner().invoke, main, [*command, "--schemas-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    registry = SchemaRegistry.load(tmp_path)  # the bundled envelope was copied beside the draft
    assert registry.spec("com.acme.oms.order.upserted").topic == "domain.oms.orders"
    mapping = load_mappings(tmp_path / "mappings").by_type["com.acme.oms.order.upserted"]
    assert mapping.fields["Account__r"].parent is not None
    assert mapping.fields["Account__r"].parent.external_id_field == "ERP_Customer_Id__c"
