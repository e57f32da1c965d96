"""Validation: layer 1 field checks named by Salesforce errorCode; layer 2 rules, never silently passed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta
from bridge.processing.records import MappedRecord
from bridge.processing.validation import CompiledRule, NotEvaluated, RuleNotEvaluable, Validator
from bridge.types import Lane


def account(**fields: Any) -> MappedRecord:
    values = {"Name": "Acme", "ERP_Customer_Id__c": "C-1", **fields}
    return MappedRecord("Account", "ERP_Customer_Id__c", "C-1", values, Lane.BULK, 1, ("e",))


def codes(validator: Validator, record: MappedRecord, *, is_new: bool = True) -> list[str]:
    return [v.rule for v in validator.validate(record, is_new=is_new).violations]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Nope__c": 1}, "INVALID_FIELD"),
        ({"Id": "001000000000001AAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"BillingCity": "x" * 41}, "STRING_TOO_LONG"),
        ({"Rating": "Warm"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"NumberOfEmployees": 1.5}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"NumberOfEmployees": True}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"AnnualRevenue": "lots"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"AnnualRevenue": 10**17}, "NUMBER_OUTSIDE_VALID_RANGE"),
        ({"IsActive__c": "yes"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"Founded__c": "31/01/1999"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"Contact_Email__c": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ({"Name": None}, "REQUIRED_FIELD_MISSING"),
    ],
)
def test_field_checks(objects: dict[str, SObjectMeta], fields: dict[str, Any], code: str) -> None:
    assert codes(Validator(objects), account(**fields)) == [code]


def test_valid_values_pass(objects: dict[str, SObjectMeta]) -> None:
    record = account(
        Industry="Not in the list",  # unrestricted picklists accept any value
        Rating="Hot",
        AnnualRevenue=1234.5,
        NumberOfEmployees=10,
        Founded__c="1999-01-31",
        Contact_Email__c="a@b.co",
        Phone=None,
    )
    assert Validator(objects).validate(record).ok


def test_required_only_on_insert(objects: dict[str, SObjectMeta]) -> None:
    update = MappedRecord("Account", "ERP_Customer_Id__c", "C-1", {"Phone": "1"}, Lane.BULK, 2)
    assert codes(Validator(objects), update, is_new=True) == ["REQUIRED_FIELD_MISSING"]
    assert codes(Validator(objects), update, is_new=False) == []


def test_parent_reference_shape(objects: dict[str, SObjectMeta]) -> None:
    def opp(parent: object) -> MappedRecord:
        fields = {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-01", "Account": parent}
        return MappedRecord("Opportunity", "ERP_Deal_Id__c", "D-1", fields, Lane.BULK, 1)

    validator = Validator(objects)
    assert validator.validate(opp({"ERP_Customer_Id__c": "C-1"})).ok
    assert codes(validator, opp({"Name": "Acme"})) == ["INVALID_FIELD"]  # not an external ID field
    assert codes(validator, opp("C-1")) == ["INVALID_FIELD"]
    assert codes(validator, opp({"ERP_Customer_Id__c": ""})) == ["INVALID_FIELD"]


def test_unknown_sobject(objects: dict[str, SObjectMeta]) -> None:
    record = MappedRecord("Lead", "X__c", "1", {}, Lane.BULK, None)
    assert codes(Validator(objects), record) == ["INVALID_TYPE"]


def _rule(name: str, check: Any, fields: frozenset[str] = frozenset({"Phone"}), active: bool = True) -> CompiledRule:
    meta = ValidationRuleMeta(name, "Account", active, "formula", f"{name} says no", "Phone")
    return CompiledRule(meta, fields, check)


def _short_phone(record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool) -> bool:
    return record.get("Phone") is not None and len(record["Phone"]) < 5


def _unsupported(record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool) -> bool:
    raise RuleNotEvaluable("GETRECORDIDS is not supported")


def test_rules_reject_with_name_and_message(objects: dict[str, SObjectMeta]) -> None:
    validator = Validator(objects, {"Account": (_rule("Phone_Length", _short_phone),)})
    result = validator.validate(account(Phone="123"))
    assert [(v.rule, v.message, v.kind, v.field) for v in result.violations] == [
        ("Phone_Length", "Phone_Length says no", "rule", "Phone")
    ]
    assert validator.validate(account(Phone="12345")).ok


def test_inactive_rules_are_ignored(objects: dict[str, SObjectMeta]) -> None:
    validator = Validator(objects, {"Account": (_rule("Off", _short_phone, active=False),)})
    assert validator.validate(account(Phone="1")).ok


def test_not_evaluable_is_reported_never_passed(objects: dict[str, SObjectMeta]) -> None:
    broken = CompiledRule(_rule("Broken", None).meta, frozenset(), None, "syntax error at 3")
    rules = (_rule("Exotic", _unsupported), broken)
    result = Validator(objects, {"Account": rules}).validate(account(Phone="1"))
    assert result.ok
    assert result.not_evaluable == (
        NotEvaluated("Exotic", "GETRECORDIDS is not supported"),
        NotEvaluated("Broken", "syntax error at 3"),
    )


def test_updates_use_prior_values_or_say_they_cannot(objects: dict[str, SObjectMeta]) -> None:
    rule = _rule("Phone_Length", _short_phone)
    validator = Validator(objects, {"Account": (rule,)})
    update = MappedRecord("Account", "ERP_Customer_Id__c", "C-1", {"Name": "New"}, Lane.BULK, 2)
    unknown = validator.validate(update, prior=None, is_new=False)
    assert unknown.ok
    assert [n.rule for n in unknown.not_evaluable] == ["Phone_Length"]
    known = validator.validate(update, prior={"Phone": "12"}, is_new=False)
    assert [v.rule for v in known.violations] == ["Phone_Length"]
