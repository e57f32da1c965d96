"""Findings: every one planted in the messy org is found, and the checks do not cry wolf on clean input."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.catalog.findings import Finding, find_all
from bridge.catalog.model import Org, OrgContext, build_org
from bridge.catalog.naming import name_style, naming_issues, shares_meaning, words
from bridge.catalog.snapshot import OrgSnapshot
from bridge.processing.mapping import Mappings, parse_mappings
from tests.catalog.conftest import context_for
from tests.processing.conftest import field


@pytest.fixture(scope="module")
def found(messy: Org, shipped_mappings: Mappings) -> list[Finding]:
    return find_all(messy, context_for(shipped_mappings))


def where(findings: list[Finding], kind: str) -> set[tuple[str, str | None]]:
    return {(f.sobject, f.field) for f in findings if f.kind == kind}


PLANTED = {
    "naming": {
        ("Opportunity", "erpDealID__c"),
        ("Contact", "erp_contact_id__c"),
        ("Loyalty_Card__c", "cardNumber__c"),
        ("projectTask__c", "dueDate__c"),
        ("support_ticket__c", "severity__c"),
        ("projectTask__c", None),
        ("support_ticket__c", None),
    },
    "label_mismatch": {("Account", "Region__c"), ("Opportunity", "Discount_Percent__c")},
    "label_collision": {
        ("Invoice__c", "Amount__c"),
        ("Invoice__c", "Total_Amount__c"),
        ("Invoice__c", None),
        ("Legacy_Invoice__c", None),
    },
    "required_unmapped": {("Account", "Customer_Tier__c")},
    "mapping_field_missing": {("Opportunity", "ERP_Deal_Id__c")},
    "unrestricted_picklist": {
        ("Account", "Customer_Tier__c"),
        ("Account", "Industry"),  # standard, but a mapping writes it
        ("Payment__c", "Method__c"),
        ("projectTask__c", "Status__c"),
        ("support_ticket__c", "severity__c"),
    },
    "rule_not_evaluable": {("Shipment__c", "Shipment_Warehouse_City_Known")},
    "trigger_not_bypassed": {("Account", "AccountScoring")},
    "external_id_not_unique": {("Account", "Legacy_Id__c")},
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_planted_finding_is_found_and_nothing_else(found: list[Finding], kind: str) -> None:
    assert where(found, kind) == PLANTED[kind]


def test_missing_descriptions_are_the_undescribed_custom_fields_and_objects(found: list[Finding]) -> None:
    missing = where(found, "missing_description")
    assert ("Account", "Region__c") in missing
    assert ("Payment__c", None) in missing
    assert ("Survey_Response__c", "Score__c") in missing
    assert ("Invoice__c", "Amount__c") not in missing  # described in the org
    assert ("Invoice__c", None) not in missing
    assert not any(obj == "Account" and name == "Name" for obj, name in missing)  # standard fields are not ours


def test_findings_are_sorted_most_severe_first_with_a_reason(found: list[Finding]) -> None:
    severities = [f.severity for f in found]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    tier = next(f for f in found if f.kind == "required_unmapped")
    assert tier.reason == "required, no default, and mapping com.acme.crm.customer.upserted does not fill it"
    assert all(f.reason and "\n" not in f.reason for f in found)


def test_a_covering_mapping_clears_the_coverage_findings(messy: Org, messy_snapshot: OrgSnapshot) -> None:
    mapping = {
        "event_type": "com.acme.billing.customer.upserted",
        "sobject": "Account",
        "external_id_field": "ERP_Customer_Id__c",
        "external_id_from": "data.id",
        "fields": {
            "Name": {"from": "data.name"},
            "Customer_Tier__c": {"from": "data.tier"},
            "Parent": {
                "from": "data.parent",
                "parent": {"sobject": "Account", "external_id_field": "ERP_Customer_Id__c"},
            },
        },
    }
    context = context_for(parse_mappings([mapping]))
    org = build_org(messy_snapshot, context)
    findings = find_all(org, context)
    assert not where(findings, "required_unmapped")
    assert not where(findings, "mapping_field_missing")  # "Parent" is ParentId's relationship name
    assert ("Account", "Industry") not in where(findings, "unrestricted_picklist")
    without = build_org(messy_snapshot, OrgContext())
    assert not where(find_all(without, OrgContext()), "trigger_not_bypassed")  # no mapping: the bridge writes nothing


def test_required_means_no_default_and_not_generated() -> None:
    describe: dict[str, Any] = {
        "name": "Thing__c",
        "label": "Thing",
        "fields": [
            field("Needed__c", nillable=False, custom=True, label="Needed"),
            field("Defaulted__c", nillable=False, custom=True, label="Defaulted", defaultValue="A"),
            field("Formula_Default__c", nillable=False, custom=True, label="Formula Default", defaultValueFormula="1"),
            field("Number__c", nillable=False, custom=True, label="Number", autoNumber=True),
            field("Flag__c", "boolean", nillable=False, custom=True, label="Flag"),
        ],
    }
    org = build_org(OrgSnapshot({"Thing__c": describe}))
    assert [name for name, f in org.objects["Thing__c"].fields.items() if f.required] == ["Needed__c"]


def test_naming_styles_and_the_majority() -> None:
    assert name_style("Contact_Email__c") == "Pascal_Snake"
    assert name_style("contactEmail__c") == "camelCase"
    assert name_style("ns__contact_email__c") == "lower_snake"
    assert name_style("Shipment_Event__e") == "Pascal_Snake"
    assert name_style("Odd__Name_x__c") == "other"
    issues = naming_issues("custom field", ["Contact_Email__c", "Founded_On__c", "ERP_Id__c", "contactPhone__c"])
    assert [(i.name, i.style, i.convention) for i in issues] == [("contactPhone__c", "camelCase", "Pascal_Snake")]
    assert naming_issues("custom field", ["a__c", "B__c"]) == []  # too few to call it a convention
    assert naming_issues("custom field", ["a_b__c", "cD__c", "E_F__c", "gH__c"]) == []  # no majority


def test_labels_and_names_share_meaning_through_words_and_abbreviations() -> None:
    assert words("erpDealID__c") == ["erp", "deal", "id"]
    assert shares_meaning("Acct_Mgr__c", "Account Manager")
    assert shares_meaning("Qty__c", "Quantity")
    assert shares_meaning("ERP_Customer_Id__c", "ERP Customer ID")
    assert not shares_meaning("Region__c", "Sales Territory")
    assert not shares_meaning("Discount_Percent__c", "Margin")
