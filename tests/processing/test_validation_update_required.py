"""Regression: an update clearing a required field is rejected before the call, and "" counts as null.

Found by the differential test: the validator checked required fields on inserts only, so an update carrying
`"CloseDate": null` passed locally and the org answered REQUIRED_FIELD_MISSING; and "" on a restricted
picklist or a date was called a bad value where the org stores null.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.emulator import Org
from bridge.processing.metadata import SObjectMeta
from bridge.processing.records import MappedRecord
from bridge.processing.validation import Validator
from bridge.types import Lane


def update(**fields: Any) -> MappedRecord:
    return MappedRecord("Opportunity", "ERP_Deal_Id__c", "D-1", fields, Lane.BULK, 2)


@pytest.mark.parametrize("cleared", [None, ""])
def test_update_clearing_a_required_field_is_rejected(objects: dict[str, SObjectMeta], cleared: Any) -> None:
    result = Validator(objects).validate(update(CloseDate=cleared, Amount=5), is_new=False)
    assert [(v.rule, v.field) for v in result.violations] == [("REQUIRED_FIELD_MISSING", "CloseDate")]


def test_update_leaving_required_fields_out_still_passes(objects: dict[str, SObjectMeta]) -> None:
    assert Validator(objects).validate(update(Amount=5), is_new=False).ok


def test_the_emulator_rejects_the_same_update() -> None:
    org = Org()
    fields = {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    (created,) = org.insert_many("Opportunity", [fields])
    (outcome,) = org.update_many("Opportunity", [{"Id": created["id"], "CloseDate": None}])
    assert not outcome["success"]
    assert outcome["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert outcome["errors"][0]["fields"] == ["CloseDate"]


@pytest.mark.parametrize("field", ["Rating", "Founded__c", "AnnualRevenue"])
def test_an_empty_string_is_null_not_a_bad_value(objects: dict[str, SObjectMeta], field: str) -> None:
    """ "" on a restricted picklist, date or number field clears it; it is not a bad value of that type."""
    record = MappedRecord("Account", "ERP_Customer_Id__c", "C-1", {"Name": "Acme", field: ""}, Lane.BULK, 1)
    assert Validator(objects).validate(record).violations == ()
