"""Helpers for the formula tests: evaluate a formula text against a record in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bridge.formula import FormulaContext, compile_formula

FIELD_TYPES: dict[str, str] = {
    "Name": "string",
    "Description": "textarea",
    "Phone": "phone",
    "Email": "email",
    "Website": "url",
    "StageName": "picklist",
    "Interests__c": "multipicklist",
    "Amount": "currency",
    "Probability": "percent",
    "NumberOfEmployees": "int",
    "Discount__c": "double",
    "IsActive__c": "boolean",
    "CloseDate": "date",
    "LastSeen__c": "datetime",
    "AccountId": "reference",
}


class Evaluate:
    """`evaluate(text, **record)` with the shared field types; keyword-only extras build the context."""

    def __call__(
        self,
        text: str,
        record: Mapping[str, Any] | None = None,
        *,
        prior: Mapping[str, Any] | None = None,
        is_new: bool = True,
        merge: Mapping[str, Any] | None = None,
        blank_as_zero: bool = False,
        **context: Any,
    ) -> Any:
        formula = compile_formula(text, FIELD_TYPES, blank_as_zero=blank_as_zero)
        return formula.evaluate(FormulaContext(record or {}, prior=prior, is_new=is_new, merge=merge or {}, **context))


@pytest.fixture
def evaluate() -> Evaluate:
    """Compile with the shared field types and evaluate in one call."""
    return Evaluate()
