"""The catalog: fetch through the Tooling API's one-row rule, render Markdown, write the validation schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bridge.catalog.document import name_style, naming_issues, render_catalog, trigger_bypassable
from bridge.catalog.fetch import fetch_snapshot
from bridge.catalog.snapshot import load_snapshot, read_snapshot, write_snapshot
from bridge.cli.main import main
from tests.processing.conftest import ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE, field

RULE = {
    "Id": "03d000000000001AAA",
    "ValidationName": "Phone_Required_For_Hot",
    "Active": True,
    "ErrorDisplayField": "Phone",
    "ErrorMessage": "Hot accounts need a phone",
    "EntityDefinition": {"QualifiedApiName": "Account"},
}
METADATA = {"errorConditionFormula": 'AND(ISPICKVAL(Rating, "Hot"), ISBLANK(Phone))', "active": True}
TRIGGERS = [
    {
        "Name": "AccountRollup",
        "Status": "Active",
        "UsageAfterUpdate": True,
        "Body": "if (Integration_Settings__c.getInstance().Bypass_Triggers__c) return;",
    },
    {"Name": "AccountAudit", "Status": "Active", "UsageBeforeInsert": True, "Body": "insert new Audit__c();"},
]


class FakeOrg:
    """Answers describe and the Tooling queries the catalog sends, enforcing the Metadata one-row rule."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def describe(self, sobject: str) -> Mapping[str, Any]:
        return {"Account": ACCOUNT_DESCRIBE, "Opportunity": OPPORTUNITY_DESCRIBE}[sobject]

    async def tooling_query(self, soql: str) -> Sequence[Mapping[str, Any]]:
        self.queries.append(soql)
        if "FROM ApexTrigger" in soql:
            return TRIGGERS if "'Account'" in soql else []
        if "'Account'" not in soql and RULE["Id"] not in soql:
            return []
        if "Metadata" in soql:
            assert f"Id = '{RULE['Id']}'" in soql, "Metadata may only be selected for one row"
            return [{**RULE, "Metadata": METADATA}]
        return [RULE]


async def test_fetch_reads_rules_one_by_one_and_round_trips(tmp_path: Path) -> None:
    org = FakeOrg()
    snapshot = await fetch_snapshot(org, ["Opportunity", "Account"])
    assert snapshot.validation_rules["Account"][0]["Metadata"] == METADATA
    assert snapshot.validation_rules["Opportunity"] == []
    write_snapshot(tmp_path, snapshot)
    assert read_snapshot(tmp_path) == snapshot
    model = load_snapshot(tmp_path)
    assert model.rules["Account"][0].formula == METADATA["errorConditionFormula"]
    with pytest.raises(ValueError, match="not an API name"):
        await fetch_snapshot(org, ["Account' OR Name != '"])


async def test_pages_document_fields_rules_triggers_and_naming() -> None:
    snapshot = await fetch_snapshot(FakeOrg(), ["Account", "Opportunity"])
    pages = render_catalog(snapshot)
    assert set(pages) == {"Account.md", "Opportunity.md", "README.md"}
    account = pages["Account.md"]
    assert "| `ERP_Customer_Id__c` |" in account
    assert "External ID fields: `ERP_Customer_Id__c`" in account
    assert "Required on create: `Name`." in account
    assert "(restricted) Cold, Hot" in account
    assert "### Phone_Required_For_Hot (active; not evaluable: no formula evaluator is configured)" in account
    assert METADATA["errorConditionFormula"] in account
    assert "| `AccountRollup` | Active | yes | AfterUpdate |" in account
    assert "| `AccountAudit` | Active | no | BeforeInsert |" in account
    assert "| Account" in pages["Opportunity.md"]
    assert "[Account](Account.md) | 17 | 1 | 2 |" in pages["README.md"]


def test_naming_follows_the_orgs_majority() -> None:
    assert name_style("Contact_Email__c") == "Pascal_Snake"
    assert name_style("contactEmail__c") == "camelCase"
    assert name_style("ns__contact_email__c") == "lower_snake"
    issues = naming_issues("custom field", ["Contact_Email__c", "Founded_On__c", "ERP_Id__c", "contactPhone__c"])
    assert [(i.name, i.style, i.convention) for i in issues] == [("contactPhone__c", "camelCase", "Pascal_Snake")]
    assert naming_issues("custom field", ["a__c", "B__c"]) == []  # too few to call it a convention
    assert trigger_bypassable(TRIGGERS[0], ["Integration_Settings__c"])
    assert not trigger_bypassable(TRIGGERS[1], ["Integration_Settings__c"])


async def test_cli_writes_docs_and_schemas(tmp_path: Path) -> None:
    snapshot = await fetch_snapshot(FakeOrg(), ["Account", "Opportunity"])
    odd = {**ACCOUNT_DESCRIBE, "fields": [*ACCOUNT_DESCRIBE["fields"], field("badName__c")]}
    write_snapshot(
        tmp_path / "snap",
        type(snapshot)({**snapshot.describes, "Account": odd}, snapshot.validation_rules, snapshot.triggers),
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["catalog", "--out", str(out), "--from-snapshot", str(tmp_path / "snap"), "--sobject", "Account"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "Account.md",
        "README.md",
        "describe",
        "triggers",
        "validation_rules",
    ]
    assert "custom field `badName__c` is camelCase" in (out / "Account.md").read_text()
    assert load_snapshot(out).objects["Account"].fields["badName__c"].type == "string"
    refused = CliRunner().invoke(main, ["catalog", "--out", str(out)], env={"BRIDGE_SALESFORCE__CLIENT_ID": ""})
    assert refused.exit_code == 1
    assert "--from-snapshot" in refused.output
