"""Validation before any API call: layer 1 checks field metadata, layer 2 the org's validation rules.

Field checks are named after the Salesforce `errorCode` the org would answer with (`REQUIRED_FIELD_MISSING`,
`STRING_TOO_LONG`, ...); rule violations by the rule's name with its `ErrorMessage`. A rule that cannot be
evaluated is reported in `ValidationResult.not_evaluable`, never counted as passed.

    validator = Validator(objects={"Account": account_meta}, rules={"Account": compiled_rules})
    result = validator.validate(record, prior=None, is_new=True)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from bridge.processing.coercion import Refused, coerce
from bridge.processing.metadata import (
    INTEGER_TYPES,
    NUMBER_TYPES,
    FieldMeta,
    SObjectMeta,
    ValidationRuleMeta,
)
from bridge.processing.records import MappedRecord

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SALESFORCE_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")


class NotEvaluablePolicy(StrEnum):
    """What to do with a record when a rule could not be evaluated locally."""

    PASS_THROUGH = "pass_through"  # noqa: S105 - let Salesforce judge; counted and reported, never as "passed"
    REJECT = "reject"  # dead-letter it


class RuleNotEvaluable(Exception):
    """Raised by a rule check that cannot decide (unsupported function, unknown merge field, ...)."""


RuleCheck = Callable[[Mapping[str, Any], Mapping[str, Any] | None, bool], bool]
"""`check(record_after_write, prior_or_None, is_new) -> violated`; may raise `RuleNotEvaluable`."""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validation rule ready to evaluate, or the reason it cannot be (`check is None`)."""

    meta: ValidationRuleMeta
    fields: frozenset[str]
    check: RuleCheck | None
    compile_error: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason the org would reject the record."""

    rule: str
    message: str
    kind: Literal["field", "rule"]
    field: str | None = None


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    """A rule the local evaluator could not decide, and why."""

    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Violations (empty when valid) and the rules that could not be evaluated."""

    violations: tuple[Violation, ...] = ()
    not_evaluable: tuple[NotEvaluated, ...] = ()

    @property
    def ok(self) -> bool:
        """No violations (rules that were not evaluable are judged by the policy, not here)."""
        return not self.violations


_NUMERIC_TYPES = NUMBER_TYPES | INTEGER_TYPES


def _number_fits(meta: FieldMeta, value: Any) -> bool:
    if meta.precision <= 0:
        return True
    integer_digits = len(str(abs(int(value)))) if abs(value) >= 1 else 0
    return integer_digits <= meta.precision - meta.scale


def _picklist_error(meta: FieldMeta, value: str) -> Violation | None:
    if not meta.restricted_picklist:
        return None
    values = value.split(";") if meta.type == "multipicklist" else [value]
    bad = [v for v in values if v not in meta.picklist_values]
    if not bad:
        return None
    return Violation(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"{meta.name}: bad value for restricted picklist field: {bad[0]}",
        "field",
        meta.name,
    )


def _constraint_error(meta: FieldMeta, value: Any) -> Violation | None:
    """Length, picklist, number range, email and id shape of a value already read as the org reads it."""
    if isinstance(value, str) and meta.length and len(value) > meta.length:
        message = f"{meta.name}: data value too large (max length={meta.length})"
        return Violation("STRING_TOO_LONG", message, "field", meta.name)
    if meta.type in {"picklist", "multipicklist"}:
        return _picklist_error(meta, value)
    if meta.type in _NUMERIC_TYPES and not _number_fits(meta, value):
        return Violation("NUMBER_OUTSIDE_VALID_RANGE", f"{meta.name}: number too large", "field", meta.name)
    if meta.type == "email" and not _EMAIL.fullmatch(value):
        return Violation("INVALID_EMAIL_ADDRESS", f"{meta.name}: invalid email address", "field", meta.name)
    if meta.type == "reference" and not _SALESFORCE_ID.fullmatch(value):
        return Violation("MALFORMED_ID", f"{meta.name}: not a Salesforce Id", "field", meta.name)
    return None


def read_value(meta: FieldMeta, value: Any) -> tuple[Any, Violation | None]:
    """Layer 1 for one present field: the value as the org will hold it (see `coercion`), and what it refuses."""
    if meta.calculated or not (meta.createable or meta.updateable):
        return value, Violation("INVALID_FIELD_FOR_INSERT_UPDATE", f"{meta.name} is not writeable", "field", meta.name)
    if value is None or (value == "" and meta.type != "boolean"):
        # The REST API stores "" as null; the required-field check treats it as missing, too.
        return None, None
    read = coerce(meta, value)
    if isinstance(read, Refused):
        return value, Violation("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{meta.name}: {read.reason}", "field", meta.name)
    return read.value, _constraint_error(meta, read.value)


def check_value(meta: FieldMeta, value: Any) -> Violation | None:
    """Layer 1 for one present field: writeable, type, length, picklist, number range, email, id shape."""
    return read_value(meta, value)[1]


def _check_parent(sobject: SObjectMeta, name: str, value: Any, objects: Mapping[str, SObjectMeta]) -> Violation | None:
    lookup = sobject.relationships.get(name)
    if lookup is None:
        return Violation("INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'", "field", name)
    if not isinstance(value, Mapping) or len(value) != 1:
        return Violation("INVALID_FIELD", f"{name}: a parent is referenced by one external ID", "field", name)
    ((key_field, key_value),) = value.items()
    parents = [objects[target] for target in lookup.reference_to if target in objects]
    if parents and not any(key_field in parent.external_id_fields for parent in parents):
        return Violation("INVALID_FIELD", f"{name}: {key_field} is not an external ID field", "field", name)
    if not isinstance(key_value, str | int) or isinstance(key_value, bool) or key_value == "":
        return Violation("INVALID_FIELD", f"{name}: the parent's external ID is missing", "field", name)
    return None


def check_fields(
    sobject: SObjectMeta, fields: Mapping[str, Any], *, is_new: bool, objects: Mapping[str, SObjectMeta]
) -> list[Violation]:
    """Layer 1 for a whole record; required fields: all of them on an insert (`is_new`), cleared ones on an update."""
    return read_fields(sobject, fields, is_new=is_new, objects=objects)[0]


def read_fields(
    sobject: SObjectMeta, fields: Mapping[str, Any], *, is_new: bool, objects: Mapping[str, SObjectMeta]
) -> tuple[list[Violation], dict[str, Any]]:
    """`check_fields`, and the record's values as the org will hold them (what validation rules see)."""
    violations: list[Violation] = []
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        meta = sobject.fields.get(name)
        if meta is None:
            found, typed[name] = _check_parent(sobject, name, value, objects), value
        else:
            typed[name], found = read_value(meta, value)
        if found is not None:
            violations.append(found)
    missing = _missing_required(sobject, fields, is_new=is_new)
    if missing:
        message = f"Required fields are missing: [{', '.join(missing)}]"
        violations.append(Violation("REQUIRED_FIELD_MISSING", message, "field", missing[0]))
    return violations, typed


def _missing_required(sobject: SObjectMeta, fields: Mapping[str, Any], *, is_new: bool) -> list[str]:
    """Required fields an insert leaves empty, or an update explicitly clears (null or "")."""
    filled = {n for n, v in fields.items() if v is not None and v != ""}
    if not is_new:
        # An update keeps the org's value of a field it does not carry; only a carried empty value clears it.
        return [name for name in sobject.required_fields if name in fields and name not in filled]
    filled |= {sobject.relationships[n].name for n in filled if n in sobject.relationships}
    return [name for name in sobject.required_fields if name not in filled]


def _evaluate(
    rule: CompiledRule, record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool
) -> Violation | NotEvaluated | None:
    if rule.check is None:
        return NotEvaluated(rule.meta.name, rule.compile_error or "not evaluable")
    unknown = sorted(rule.fields - record.keys()) if not is_new else []
    if unknown:
        # An update leaves other fields as they are in the org, and we do not know those values.
        return NotEvaluated(rule.meta.name, f"needs field values the event does not carry: {', '.join(unknown)}")
    try:
        violated = rule.check(record, prior, is_new)
    except RuleNotEvaluable as exc:
        return NotEvaluated(rule.meta.name, str(exc) or "not evaluable")
    if not violated:
        return None
    return Violation(rule.meta.name, rule.meta.error_message, "rule", rule.meta.error_display_field)


@dataclass(frozen=True, slots=True)
class Validator:
    """Both layers for every SObject the mappings write. Pure: metadata and compiled rules come in."""

    objects: Mapping[str, SObjectMeta]
    rules: Mapping[str, tuple[CompiledRule, ...]] = field(default_factory=dict)

    def validate(
        self, record: MappedRecord, *, prior: Mapping[str, Any] | None = None, is_new: bool = True
    ) -> ValidationResult:
        """Check `record` as an insert (`is_new`) or as an update over the `prior` values we last applied."""
        sobject = self.objects.get(record.sobject)
        if sobject is None:
            message = f"sObject type '{record.sobject}' is not supported"
            return ValidationResult((Violation("INVALID_TYPE", message, "field"),))
        violations, typed = read_fields(sobject, record.fields, is_new=is_new, objects=self.objects)
        after = {**(prior or {}), **typed} if not is_new else typed
        skipped: list[NotEvaluated] = []
        for rule in self.rules.get(record.sobject, ()):
            if not rule.meta.active:
                continue
            verdict = _evaluate(rule, after, prior, is_new)
            if isinstance(verdict, Violation):
                violations.append(verdict)
            elif isinstance(verdict, NotEvaluated):
                skipped.append(verdict)
        return ValidationResult(tuple(violations), tuple(skipped))
