"""Metadata: describe fields and Tooling API validation rules in the shapes a real org returns."""

from __future__ import annotations

from bridge.processing.metadata import SObjectMeta, parse_validation_rules


def test_required_comes_from_nillable_createable_and_defaulted(objects: dict[str, SObjectMeta]) -> None:
    account = objects["Account"]
    assert account.fields["Name"].required
    assert not account.fields["Id"].required  # not createable
    assert not account.fields["IsActive__c"].required  # defaulted on create (and boolean)
    assert not account.fields["Phone"].required
    assert account.external_id_fields == {"ERP_Customer_Id__c"}


def test_picklists_and_references(objects: dict[str, SObjectMeta]) -> None:
    rating = objects["Account"].fields["Rating"]
    assert rating.restricted_picklist
    assert rating.picklist_values == {"Hot", "Cold"}
    opportunity = objects["Opportunity"]
    assert opportunity.relationships["Account"].name == "AccountId"
    assert opportunity.relationships["Account"].reference_to == ("Account",)


def test_tooling_validation_rule_records() -> None:
    records = [
        {
            "Id": "03d000000000001",
            "ValidationName": "Close_Date_Not_Past",
            "Active": True,
            "ErrorMessage": "Close date cannot be in the past",
            "ErrorDisplayField": "CloseDate",
            "EntityDefinition": {"QualifiedApiName": "Opportunity"},
            "Metadata": {"errorConditionFormula": "CloseDate < TODAY()", "active": True},
        },
        {
            "FullName": "Account.Phone_Format",
            "Active": False,
            "Metadata": {"errorConditionFormula": "LEN(Phone) < 5", "errorMessage": "Phone too short"},
        },
    ]
    first, second = parse_validation_rules(records)
    assert (first.name, first.sobject, first.active) == ("Close_Date_Not_Past", "Opportunity", True)
    assert first.formula == "CloseDate < TODAY()"
    assert first.error_display_field == "CloseDate"
    assert (second.name, second.sobject, second.active) == ("Phone_Format", "Account", False)
    assert second.error_message == "Phone too short"
