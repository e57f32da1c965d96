"""Regression: an int field's size comes from describe's `digits`, and a value with more digits is out of range.

Found by the differential test: NumberOfEmployees (int, digits 8) took 100,000,000 locally; Salesforce answers
NUMBER_OUTSIDE_VALID_RANGE before any validation rule runs.
"""

from __future__ import annotations

import pytest

from bridge.processing.metadata import SObjectMeta, parse_field
from bridge.processing.records import MappedRecord
from bridge.processing.validation import Validator
from bridge.types import Lane


def test_an_int_fields_precision_is_its_digits() -> None:
    raw = {"name": "NumberOfEmployees", "type": "int", "precision": 0, "scale": 0, "digits": 8}
    assert parse_field(raw).precision == 8


@pytest.mark.parametrize(("employees", "codes"), [(99_999_999, []), (100_000_000, ["NUMBER_OUTSIDE_VALID_RANGE"])])
def test_int_digits_are_enforced(objects: dict[str, SObjectMeta], employees: int, codes: list[str]) -> None:
    fields = {"Name": "Acme", "NumberOfEmployees": employees}
    record = MappedRecord("Account", "ERP_Customer_Id__c", "C-1", fields, Lane.BULK, 1)
    assert [v.rule for v in Validator(objects).validate(record).violations] == codes
