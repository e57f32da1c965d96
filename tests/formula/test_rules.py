"""Realistic validation rules, and the rules evaluated by the validator through `formula_compiler`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bridge.formula import FormulaContext, compile_formula
from bridge.processing.metadata import FieldMeta, SObjectMeta, ValidationRuleMeta
from bridge.processing.records import MappedRecord
from bridge.processing.rules import compile_rules, formula_compiler
from bridge.processing.validation import NotEvaluated, Validator
from bridge.types import Lane
from tests.formula.conftest import FIELD_TYPES

MERGE: dict[str, Any] = {
    "$User": {"Username": "integration@example.com"},
    "$Profile": {"Name": "Integration"},
    "$Setup": {"Integration_Bypass__c": {"All__c": False}},
}
BYPASS: dict[str, Any] = {**MERGE, "$Setup": {"Integration_Bypass__c": {"All__c": True}}}
TODAY = date(2024, 6, 1)
CLOSED_AMOUNT = "AND(ISPICKVAL(StageName,'Closed Won'), ISBLANK(Amount))"
PHONE = 'AND(NOT(ISBLANK(Phone)), NOT(REGEX(Phone, "\\\\(\\\\d{3}\\\\) \\\\d{3}-\\\\d{4}")))'
BYPASSED_LENGTH = "AND(NOT($Setup.Integration_Bypass__c.All__c), LEN(Description) > 200)"
DISCOUNT = "Discount__c > CASE(StageName, 'Prospecting', 0.05, 'Negotiation', 0.2, 0.1)"
PAST_CLOSE = "AND(ISNEW(), CloseDate < TODAY())"
LOCKED_AMOUNT = "AND(ISCHANGED(Amount), ISPICKVAL(PRIORVALUE(StageName), 'Closed Won'))"
EMAIL = 'AND(NOT(ISBLANK(Email)), NOT(REGEX(Email, "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}")))'
PROBABILITY = "OR(Probability < 0, Probability > 1)"  # a percent is a fraction in formulas
HTTPS = 'AND(NOT(ISBLANK(Website)), NOT(BEGINS(LOWER(Website), "https://")))'
RENAME = "AND($Profile.Name <> 'System Administrator', NOT(ISNEW()), ISCHANGED(Name))"
SMALL_GOLF = "/* golf days are for bigger accounts */ INCLUDES(Interests__c, 'Golf') && NumberOfEmployees < 10"


@pytest.mark.parametrize(
    ("text", "record", "context", "violated"),
    [
        (CLOSED_AMOUNT, {"StageName": "Closed Won"}, {}, True),
        (CLOSED_AMOUNT, {"StageName": "Closed Won", "Amount": 0}, {}, False),
        (CLOSED_AMOUNT, {"StageName": "Prospecting"}, {}, False),
        (PHONE, {"Phone": "(555) 123-4567"}, {}, False),
        (PHONE, {"Phone": "555-123-4567"}, {}, True),
        (PHONE, {"Phone": "(555) 123-4567 "}, {}, True),  # Java matches() is a whole-string match
        (PHONE, {}, {}, False),
        (BYPASSED_LENGTH, {"Description": "x" * 201}, {"merge": MERGE}, True),
        (BYPASSED_LENGTH, {"Description": "x" * 200}, {"merge": MERGE}, False),
        (BYPASSED_LENGTH, {"Description": "x" * 201}, {"merge": BYPASS}, False),
        (DISCOUNT, {"StageName": "Prospecting", "Discount__c": 0.06}, {}, True),
        (DISCOUNT, {"StageName": "Negotiation", "Discount__c": 0.15}, {}, False),
        (DISCOUNT, {"Discount__c": 0.15}, {}, True),
        (DISCOUNT, {"StageName": "Prospecting"}, {}, False),
        (PAST_CLOSE, {"CloseDate": "2024-05-31"}, {"today": TODAY}, True),
        (PAST_CLOSE, {"CloseDate": "2024-06-01"}, {"today": TODAY}, False),
        (PAST_CLOSE, {"CloseDate": "2024-05-31"}, {"today": TODAY, "is_new": False, "prior": {}}, False),
        (LOCKED_AMOUNT, {"Amount": 5}, {"is_new": False, "prior": {"Amount": 4, "StageName": "Closed Won"}}, True),
        (LOCKED_AMOUNT, {"Amount": 5}, {"is_new": False, "prior": {"Amount": 4, "StageName": "Prospecting"}}, False),
        (LOCKED_AMOUNT, {"Amount": 5, "StageName": "Closed Won"}, {}, False),
        (EMAIL, {"Email": "a.b@example.co"}, {}, False),
        (EMAIL, {"Email": "a.b@example"}, {}, True),
        (PROBABILITY, {"Probability": 101}, {}, True),
        (PROBABILITY, {"Probability": 100}, {}, False),
        (PROBABILITY, {}, {}, False),
        (HTTPS, {"Website": "HTTPS://example.com"}, {}, False),
        (HTTPS, {"Website": "http://example.com"}, {}, True),
        (RENAME, {"Name": "New"}, {"merge": MERGE, "is_new": False, "prior": {"Name": "Old"}}, True),
        (RENAME, {"Name": "New"}, {"merge": MERGE}, False),
        (SMALL_GOLF, {"Interests__c": "Golf;Tennis", "NumberOfEmployees": 5}, {}, True),
        (SMALL_GOLF, {"Interests__c": "Golf;Tennis", "NumberOfEmployees": 50}, {}, False),
    ],
)
def test_realistic_rule(text: str, record: dict[str, Any], context: dict[str, Any], violated: bool) -> None:
    formula = compile_formula(text, FIELD_TYPES)
    assert (formula.evaluate(FormulaContext(record, **context)) is True) is violated


def rule(name: str, formula: str, message: str = "rejected") -> ValidationRuleMeta:
    return ValidationRuleMeta(name, "Opportunity", True, formula, message, None)


@pytest.fixture
def opportunity() -> dict[str, SObjectMeta]:
    fields = {name: FieldMeta(name, kind) for name, kind in FIELD_TYPES.items()}
    fields["External_Id__c"] = FieldMeta("External_Id__c", "string", external_id=True)
    return {"Opportunity": SObjectMeta("Opportunity", fields)}


def deal(**fields: Any) -> MappedRecord:
    return MappedRecord("Opportunity", "External_Id__c", "D-1", fields, Lane.REALTIME, 1)


def test_validator_with_formula_compiler(opportunity: dict[str, SObjectMeta]) -> None:
    rules = {
        "Opportunity": [
            rule("Closed_Needs_Amount", "and(ispickval(stagename, 'Closed Won'), isblank(AMOUNT))", "Amount?"),
            rule("Bypassable_Length", BYPASSED_LENGTH),
            rule("Past_Close", PAST_CLOSE),
            rule("Locked_Amount", LOCKED_AMOUNT),
            rule("Broken", "LEN(Amount) > 1"),
            rule("Uses_Lookup", "Account.Name = 'Acme'"),
            rule("Unsupported", "ISBLANK(HYPERLINK('a', 'b'))"),
        ]
    }
    clock = lambda: datetime(2024, 6, 1, 9, tzinfo=UTC)  # noqa: E731 - an injected clock
    compiled = compile_rules(rules, opportunity, formula_compiler(MERGE, clock=clock))
    assert compiled["Opportunity"][0].fields == frozenset({"StageName", "Amount"})
    validator = Validator(opportunity, compiled)

    insert = validator.validate(deal(StageName="Closed Won", CloseDate="2024-05-01", Description="x" * 201))
    assert [(v.rule, v.message) for v in insert.violations] == [
        ("Closed_Needs_Amount", "Amount?"),
        ("Bypassable_Length", "rejected"),
        ("Past_Close", "rejected"),
    ]
    skipped = {item.rule: item.detail for item in insert.not_evaluable}
    assert set(skipped) == {"Broken", "Uses_Lookup", "Unsupported"}
    assert skipped["Broken"].startswith("formula error: Incorrect parameter type for function 'LEN()'")
    assert "Account.Name" in skipped["Uses_Lookup"]
    assert "HYPERLINK" in skipped["Unsupported"]

    prior = {"StageName": "Closed Won", "Amount": 10, "Description": "", "CloseDate": "2024-05-01"}
    update = validator.validate(deal(Amount=11), prior=prior, is_new=False)
    assert [v.rule for v in update.violations] == ["Locked_Amount"]
    assert NotEvaluated("Broken", skipped["Broken"]) in update.not_evaluable


def test_formula_compiler_without_a_clock_reports_today_as_not_evaluable(opportunity: dict[str, SObjectMeta]) -> None:
    compiled = compile_rules({"Opportunity": [rule("Past_Close", PAST_CLOSE)]}, opportunity, formula_compiler({}))
    result = Validator(opportunity, compiled).validate(deal(CloseDate="2024-05-01"))
    assert result.ok
    assert [(item.rule, item.detail) for item in result.not_evaluable] == [
        ("Past_Close", "TODAY() needs today's date in the context")
    ]


def test_formula_compiler_on_an_update_missing_prior_values(opportunity: dict[str, SObjectMeta]) -> None:
    compiled = compile_rules({"Opportunity": [rule("Locked", LOCKED_AMOUNT)]}, opportunity, formula_compiler({}))
    result = Validator(opportunity, compiled).validate(deal(Amount=3, StageName="Closed Won"), is_new=False)
    assert result.ok
    assert result.not_evaluable[0].rule == "Locked"
    assert "prior" in result.not_evaluable[0].detail
