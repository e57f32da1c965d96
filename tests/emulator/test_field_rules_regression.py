"""Regression: the emulator rejects a number too large for its field, as the org does (NUMBER_OUTSIDE_VALID_RANGE).

Found by the differential test of the pre-validator: `Probability` (percent, precision 3, scale 0) took 1000 in
the emulator, where Salesforce and the pre-validator reject it before any validation rule runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.emulator import Org

DEAL = {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-12-31"}


def insert(sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
    (outcome,) = Org().insert_many(sobject, [fields])
    return outcome


@pytest.mark.parametrize(
    ("sobject", "fields", "field"),
    [
        ("Opportunity", {**DEAL, "Probability": 1000}, "Probability"),
        ("Opportunity", {**DEAL, "Probability": -1000.5}, "Probability"),
        ("Opportunity", {**DEAL, "Amount": 10**16}, "Amount"),
        ("Account", {"Name": "A", "AnnualRevenue": "1" * 19}, "AnnualRevenue"),
    ],
)
def test_too_many_integer_digits_is_out_of_range(sobject: str, fields: dict[str, Any], field: str) -> None:
    outcome = insert(sobject, fields)
    assert not outcome["success"]
    assert [(e["statusCode"], e["fields"]) for e in outcome["errors"]] == [("NUMBER_OUTSIDE_VALID_RANGE", [field])]


@pytest.mark.parametrize("fields", [{**DEAL, "Probability": 50}, {**DEAL, "Amount": 9 * 10**15}])
def test_numbers_that_fit_are_accepted(fields: dict[str, Any]) -> None:
    assert insert("Opportunity", fields)["success"]


@pytest.mark.parametrize("employees", [2.5, "2.5", True])
def test_an_int_field_takes_no_fraction(employees: Any) -> None:
    """NumberOfEmployees=2.5 was stored as 2; Salesforce fails to deserialize it as an int."""
    outcome = insert("Account", {"Name": "A", "NumberOfEmployees": employees})
    assert [(e["statusCode"], e["fields"]) for e in outcome["errors"]] == [("JSON_PARSER_ERROR", ["NumberOfEmployees"])]


@pytest.mark.parametrize("employees", [250, "250"])
def test_an_int_field_takes_integers(employees: Any) -> None:
    assert insert("Account", {"Name": "A", "NumberOfEmployees": employees})["success"]


@pytest.mark.parametrize("close_date", ["20261231", "2026-W53-4", "2026-1-5"])
def test_a_date_is_yyyy_mm_dd_only(close_date: str) -> None:
    """20261231 was taken as a date (Python's fromisoformat); Salesforce wants YYYY-MM-DD."""
    outcome = insert("Opportunity", {**DEAL, "CloseDate": close_date})
    assert [(e["statusCode"], e["fields"]) for e in outcome["errors"]] == [("JSON_PARSER_ERROR", ["CloseDate"])]


@pytest.mark.parametrize(
    ("employees", "code"),
    [(99_999_999, "FIELD_CUSTOM_VALIDATION_EXCEPTION"), (100_000_000, "NUMBER_OUTSIDE_VALID_RANGE")],
)
def test_an_int_field_has_its_digits(employees: int, code: str) -> None:
    """NumberOfEmployees has 8 digits: 8 reach the validation rules (which cap it at 5M), a ninth is out of range."""
    outcome = insert("Account", {"Name": "A", "NumberOfEmployees": employees})
    assert [e["statusCode"] for e in outcome["errors"]] == [code]
