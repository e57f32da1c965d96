"""What a formula is evaluated against: the record, its prior values, merge fields and the clock.

Field names are matched case-insensitively, as Salesforce does. On an update, a field the record does not carry
is unchanged and read from `prior`; if `prior` does not have it either the formula is not evaluable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bridge.formula.errors import NotEvaluable

_ABSENT = object()


@dataclass(frozen=True, slots=True)
class FormulaContext:
    """The data one evaluation reads.

    `merge` holds global merge fields by their `$` name, for example
    `{"$User": {"Username": "int@example.com"}, "$Setup": {"Integration_Bypass__c": {"All__c": True}}}`.
    `today`/`now` are injected so TODAY() and NOW() are deterministic; without them those are not evaluable.
    """

    record: Mapping[str, Any]
    prior: Mapping[str, Any] | None = None
    is_new: bool = True
    merge: Mapping[str, Any] = field(default_factory=dict)
    today: date | None = None
    now: datetime | None = None


def lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """`mapping[name]` with Salesforce's case-insensitive names, or `_ABSENT`."""
    if name in mapping:
        return mapping[name]
    folded = name.casefold()
    for key, value in mapping.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return _ABSENT


def _walk(mapping: Mapping[str, Any], path: str) -> Any:
    """A value by a dotted path: a flat key (`"Account.Name"`) or nested mappings; `_ABSENT` when missing."""
    flat = lookup(mapping, path)
    if flat is not _ABSENT or "." not in path:
        return flat
    value: Any = mapping
    for part in path.split("."):
        if value is None:
            return None  # an empty lookup: every field through it is blank
        if not isinstance(value, Mapping):
            return _ABSENT
        value = lookup(value, part)
        if value is _ABSENT:
            return _ABSENT
    return value


def field_value(context: FormulaContext, path: str) -> Any:
    """The raw value of a record field as the record will be after the write."""
    value = _walk(context.record, path)
    if value is not _ABSENT:
        return value
    if "." not in path and context.is_new:
        return None
    if context.prior is not None:
        value = _walk(context.prior, path)
        if value is not _ABSENT:
            return value
    if "." in path:
        raise NotEvaluable(f"the record does not carry {path}")
    raise NotEvaluable(f"the value of {path} is unknown (not in the update nor in the prior values)")


def prior_value(context: FormulaContext, path: str) -> Any:
    """The raw value of a field before the write (its current value on an insert, as Salesforce does)."""
    if context.is_new:
        return field_value(context, path)
    if context.prior is None:
        raise NotEvaluable(f"the prior value of {path} is needed but no prior values were given")
    value = _walk(context.prior, path)
    if value is _ABSENT:
        raise NotEvaluable(f"the prior value of {path} is unknown")
    return value


def merge_value(context: FormulaContext, path: str) -> Any:
    """A global merge field (`$User.Username`); not evaluable when the caller did not supply it."""
    root, _, rest = path.partition(".")
    scope = lookup(context.merge, root)
    value = _walk(scope, rest) if isinstance(scope, Mapping) else _ABSENT
    if value is _ABSENT:
        raise NotEvaluable(f"the merge field {path} is not available")
    return value
