"""Salesforce semantics around the functions: names, blanks, prior values, merge fields and compile-time types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from bridge.formula import FormulaContext, FormulaError, NotEvaluable, compile_formula
from tests.formula.conftest import FIELD_TYPES, Evaluate


def test_fields_are_the_record_fields_as_written() -> None:
    formula = compile_formula(
        "AND(ISCHANGED(amount), Account.Name = 'x', $User.Username <> '', LEN(Name) > PRIORVALUE(Amount))",
        FIELD_TYPES,
    )
    assert formula.fields == frozenset({"amount", "Account.Name", "Name", "Amount"})
    assert formula.kind == "boolean"


def test_names_are_case_insensitive(evaluate: Evaluate) -> None:
    assert evaluate("and(isblank(NAME), Len(description) = 3)", {"name": "", "DESCRIPTION": "abc"}) is True
    merge = {"$user": {"USERNAME": "int@example.com"}}
    assert evaluate("$User.Username = 'int@example.com'", merge=merge) is True


def test_text_comparison_is_case_sensitive_and_blank_is_empty(evaluate: Evaluate) -> None:
    assert evaluate("Name = 'acme'", {"Name": "Acme"}) is False
    assert evaluate("Name = ''", {}) is True
    assert evaluate("Name = NULL", {"Name": ""}) is True
    assert evaluate("Name & '-' & Description", {"Name": "a"}) == "a-"
    assert evaluate("Name < 'b'", {"Name": "a"}) is True


def test_number_blanks_propagate_unless_treated_as_zero(evaluate: Evaluate) -> None:
    assert evaluate("Amount + 1", {}) is None
    assert evaluate("Amount > 0", {}) is None
    assert evaluate("Amount = NULL", {}) is None
    assert evaluate("Amount + 1", {}, blank_as_zero=True) == Decimal(1)
    assert evaluate("Amount > 0", {}, blank_as_zero=True) is False
    assert evaluate("ISBLANK(Amount)", {}, blank_as_zero=True) is False


def test_checkbox_blank_is_false(evaluate: Evaluate) -> None:
    assert evaluate("NOT(IsActive__c)", {"IsActive__c": None}) is True
    assert evaluate("IsActive__c = FALSE", {}) is True


def test_update_reads_absent_fields_from_prior(evaluate: Evaluate) -> None:
    prior = {"Name": "Acme", "Amount": 10}
    assert evaluate("Amount > 5 && Name = 'Acme'", {"Amount": 6}, prior=prior, is_new=False) is True
    with pytest.raises(NotEvaluable, match="Amount"):
        evaluate("Amount > 5", {"Name": "x"}, is_new=False)
    with pytest.raises(NotEvaluable, match="Description"):
        evaluate("LEN(Description) > 5", {"Name": "x"}, prior=prior, is_new=False)


def test_insert_reads_absent_fields_as_blank(evaluate: Evaluate) -> None:
    assert evaluate("ISBLANK(Description)", {"Name": "x"}) is True


def test_relationship_paths(evaluate: Evaluate) -> None:
    record = {"Account": {"Name": "Acme", "Owner": {"Alias": "jdoe"}}, "RecordType.DeveloperName": "Partner"}
    text = "Account.Name & '/' & Account.Owner.Alias & '/' & RecordType.DeveloperName"
    assert evaluate(text, record) == "Acme/jdoe/Partner"
    assert evaluate("ISBLANK(Account.Name)", {"Account": None}) is True
    with pytest.raises(NotEvaluable, match=r"Account\.Name"):
        evaluate("ISBLANK(Account.Name)", {"Account": {"ERP_Id__c": "C-1"}})
    with pytest.raises(NotEvaluable, match=r"Account\.Name"):
        evaluate("ISBLANK(Account.Name)", {})


def test_isnew_ischanged_priorvalue_on_insert(evaluate: Evaluate) -> None:
    assert evaluate("ISNEW()", {}) is True
    assert evaluate("ISCHANGED(Amount)", {"Amount": 1}) is False
    assert evaluate("PRIORVALUE(Amount)", {"Amount": 1}) == Decimal(1)  # the current value, as Salesforce does


def test_isnew_ischanged_priorvalue_on_update(evaluate: Evaluate) -> None:
    prior = {"Amount": 1, "Name": "", "StageName": "Prospecting"}
    assert evaluate("ISNEW()", {}, prior=prior, is_new=False) is False
    assert evaluate("ISCHANGED(Amount)", {"Amount": 2}, prior=prior, is_new=False) is True
    assert evaluate("ISCHANGED(Amount)", {"Amount": 1.0}, prior=prior, is_new=False) is False
    assert evaluate("ISCHANGED(Amount)", {}, prior=prior, is_new=False) is False
    assert evaluate("ISCHANGED(Name)", {"Name": None}, prior=prior, is_new=False) is False
    assert evaluate("ISCHANGED(Name)", {"Name": "x"}, prior=prior, is_new=False) is True
    assert evaluate("PRIORVALUE(Amount) + Amount", {"Amount": 5}, prior=prior, is_new=False) == Decimal(6)
    text = "AND(ISPICKVAL(PRIORVALUE(StageName), 'Prospecting'), ISPICKVAL(StageName, 'Closed Won'))"
    assert evaluate(text, {"StageName": "Closed Won"}, prior=prior, is_new=False) is True


def test_prior_values_missing_on_update(evaluate: Evaluate) -> None:
    with pytest.raises(NotEvaluable, match="prior"):
        evaluate("ISCHANGED(Amount)", {"Amount": 2}, is_new=False)
    with pytest.raises(NotEvaluable, match="prior value of Amount"):
        evaluate("PRIORVALUE(Amount) > 1", {"Amount": 2}, prior={"Name": "x"}, is_new=False)


def test_merge_fields(evaluate: Evaluate) -> None:
    merge = {
        "$User": {"Username": "int@example.com", "Alias": "int"},
        "$Profile": {"Name": "Integration"},
        "$Setup": {"Integration_Bypass__c": {"All__c": True}},
        "$Permission": {"Bypass_Rules": False},
    }
    assert evaluate("$Setup.Integration_Bypass__c.All__c", merge=merge) is True
    assert evaluate("$Profile.Name = 'Integration' && !$Permission.Bypass_Rules", merge=merge) is True
    assert evaluate("LEN($User.Alias)", merge=merge) == Decimal(3)
    with pytest.raises(NotEvaluable, match=r"\$Organization\.Id"):
        evaluate("$Organization.Id = ''", merge=merge)
    with pytest.raises(NotEvaluable, match=r"\$Setup\.Other__c\.All__c"):
        evaluate("$Setup.Other__c.All__c", merge=merge)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Amount = 'x'", "operator '='. Expected .*received Number, Text"),
        ("Name + 1", "operator '\\+'.*received Text, Number"),
        ("Amount & 'x'", "operator '&'"),
        ("LEN(Amount)", "'LEN\\(\\)'. Expected Text, received Number"),
        ("StageName = 'Closed Won'", "Field StageName is a picklist field"),
        ("LEN(StageName)", "Field StageName is a picklist field"),
        ("CONTAINS(Interests__c, 'x')", "Field Interests__c is a picklist field"),
        ("ISPICKVAL(Name, 'x')", "ISPICKVAL\\(\\)' may only be used with picklist fields"),
        ("INCLUDES(StageName, 'x')", "INCLUDES\\(\\)' may only be used"),
        ("IF(Amount, 1, 2)", "'IF\\(\\)'. Expected Boolean, received Number"),
        ("IF(TRUE, 1, 'x')", "the results mix"),
        ("AND(TRUE)  && Name", "operator '&&'"),
        ("-Name", "operator '-'. Expected Number, received Text"),
        ("!Amount", "operator '!'. Expected Boolean"),
        ("CloseDate < LastSeen__c", "operator '<'"),
        ("IsActive__c > FALSE", "operator '>'"),
        ("LEN()", "Expected 1, received 0"),
        ("LEFT('a')", "Expected 2, received 1"),
        ("CASE(Amount, 1, 2)", "Expected 4 or more, received 3"),
        ("CASE(Amount, 1, 2, 3, 4)", "value/result pairs"),
        ("ISCHANGED(Amount + 1)", "requires a field"),
        ("PRIORVALUE('x')", "requires a field"),
        ("ISNEW(Name)", "Expected 0, received 1"),
        ("FIND('a', Name, 1, 2)", "Expected 2 to 3, received 4"),
    ],
)
def test_type_errors_at_compile_time(text: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        compile_formula(text, FIELD_TYPES)


def test_unknown_field_types_are_checked_at_run_time() -> None:
    formula = compile_formula("Amount__c > 5")
    assert formula.evaluate(FormulaContext({"Amount__c": 6})) is True
    with pytest.raises(NotEvaluable, match="expected text"):
        formula.evaluate(FormulaContext({"Amount__c": "six"}))


def test_unsupported_function_is_not_evaluable_at_compile_time() -> None:
    with pytest.raises(NotEvaluable, match="VLOOKUP"):
        compile_formula("VLOOKUP($ObjectType.Zip__c.Fields.City__c, $ObjectType.Zip__c.Fields.Name, Zip__c) = ''")


def test_percent_fields_are_fractions(evaluate: Evaluate) -> None:
    assert evaluate("Probability", {"Probability": 50}) == Decimal("0.5")
    prior = {"Probability": 10}
    assert evaluate("Probability - PRIORVALUE(Probability)", {"Probability": 50}, prior=prior, is_new=False) == Decimal(
        "0.4"
    )
    assert evaluate("Probability", {}, blank_as_zero=True) == Decimal(0)


def test_now_without_timezone_is_gmt(evaluate: Evaluate) -> None:
    now = datetime(2024, 5, 1, 12)
    assert evaluate("NOW() > LastSeen__c", {"LastSeen__c": "2024-05-01T11:59:00Z"}, now=now) is True


def test_very_deep_nesting_is_not_evaluable_rather_than_a_crash() -> None:
    with pytest.raises(NotEvaluable, match="nests too deeply"):
        compile_formula("(" * 5000 + "1" + ")" * 5000)
    formula = compile_formula("(" * 50 + "Amount + 1" + ")" * 50, FIELD_TYPES)
    assert formula.evaluate(FormulaContext({"Amount": 1})) == Decimal(2)
