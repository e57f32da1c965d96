"""The pre-validator reads JSON values as the coercion table says, the same table the emulator is tested by.

A case the org stores must pass layer 1 and reach the validation rules as the stored value; a case the org
refuses must be refused for the same reason (a deserialization error is INVALID_TYPE_ON_FIELD_IN_RECORD here, the
code the SOAP and Bulk APIs use, where REST answers JSON_PARSER_ERROR).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge.processing.metadata import FieldMeta, SObjectMeta, ValidationRuleMeta
from bridge.processing.records import MappedRecord
from bridge.processing.rules import compile_rules, formula_compiler
from bridge.processing.validation import Validator, read_value
from bridge.types import Lane
from tests.emulator.coercion_cases import CASES, FIELDS, OBJECT, Case

_SAME_CODE = {"JSON_PARSER_ERROR": "INVALID_TYPE_ON_FIELD_IN_RECORD"}


def field_meta(spec: dict[str, Any]) -> FieldMeta:
    """What describe reports for the profile field `spec` (the emulator's describe maps it the same way)."""
    return FieldMeta(
        name=spec["name"],
        type=spec["type"],
        length=spec.get("length", 0),
        picklist_values=frozenset(spec.get("picklist", ())),
        restricted_picklist=spec.get("restricted", False),
        precision=spec.get("precision", 0),
        scale=spec.get("scale", 0),
    )


METAS = {spec["name"]: field_meta(spec) for spec in FIELDS}


def as_stored(value: Any) -> Any:
    """The validator's typed value in the REST read-back form the table states."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_validator_reads_values_as_the_table_says(case: Case) -> None:
    typed, violation = read_value(METAS[case.field], case.sent)
    if case.error:
        assert violation is not None, case.why
        assert violation.rule == _SAME_CODE.get(case.error, case.error), case.why
    else:
        assert violation is None, f"{violation}: {case.why}"
        assert as_stored(typed) == case.stored, case.why


def test_rules_see_the_value_the_org_will_hold() -> None:
    """A formula rule on a currency field judges "12.5" as the number 12.5, on a checkbox "true" as true, and on a
    datetime "+02:00" in UTC: as the org does after reading the JSON."""
    formula = 'AND(Amount__c > 10, Active__c, Seen__c < DATETIMEVALUE("2026-12-31 09:00:00"))'
    rule = ValidationRuleMeta("Too_Big", OBJECT, True, formula, "too big")
    objects = {OBJECT: SObjectMeta(OBJECT, METAS)}
    validator = Validator(objects, compile_rules({OBJECT: [rule]}, objects, formula_compiler({})))

    def verdict(**fields: Any) -> tuple[list[str], list[str]]:
        record = MappedRecord(OBJECT, "Code__c", "C-1", {"Code__c": "C-1", **fields}, Lane.REALTIME, 1)
        result = validator.validate(record)
        return [v.rule for v in result.violations], [n.detail for n in result.not_evaluable]

    seen = "2026-12-31T10:30:00+02:00"
    assert verdict(Amount__c="12.5", Active__c="true", Seen__c=seen) == (["Too_Big"], [])
    assert verdict(Amount__c="9.99", Active__c="TRUE", Seen__c=seen) == ([], [])
    assert verdict(Amount__c=12.5, Active__c=0, Seen__c=seen) == ([], [])
    assert verdict(Amount__c=12.5, Active__c=1, Seen__c="2026-12-31T10:30:00") == ([], [])  # no zone: UTC
