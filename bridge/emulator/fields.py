"""Field-level checks on incoming values: known and writable fields, types, lengths, picklists and id formats.

The checks are pure: they turn a JSON record into typed values plus the relationship references
(`"Account": {"External_Id__c": "A-1"}`) left for the write path to resolve against the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bridge.emulator.ids import normalize_id
from bridge.emulator.profile import FieldSpec, ObjectSpec
from bridge.emulator.results import SaveError

_TEXT = {"string", "textarea", "phone", "url", "email", "picklist", "multipicklist", "combobox", "encryptedstring"}
_NUMBER = {"double", "currency", "percent"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(slots=True)
class CheckedRecord:
    """Typed values by canonical field name, references to resolve, and the errors found."""

    values: dict[str, Any] = field(default_factory=dict)
    references: dict[str, tuple[str, str, Any]] = field(default_factory=dict)
    errors: list[SaveError] = field(default_factory=list)


def _relationship(spec: ObjectSpec, name: str) -> FieldSpec | None:
    lowered = name.lower()
    return next(
        (f for f in spec.fields.values() if f.relationship_name and f.relationship_name.lower() == lowered), None
    )


def check_record(spec: ObjectSpec, raw: Mapping[str, Any], *, allow: frozenset[str] = frozenset()) -> CheckedRecord:
    """Check every field of `raw`; `allow` names system fields the caller may pass (e.g. `Id` on update)."""
    out = CheckedRecord()
    for name, value in raw.items():
        if name == "attributes" or name in allow:
            continue
        fspec = spec.field(name)
        if fspec is None and isinstance(value, Mapping):
            _check_reference_by_external_id(spec, name, value, out)
            continue
        if fspec is None:
            out.errors.append(SaveError("INVALID_FIELD", f"No such column '{name}' on sobject of type {spec.name}"))
            continue
        if fspec.system:
            out.errors.append(
                SaveError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {fspec.name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                    (fspec.name,),
                )
            )
            continue
        error = _check_value(fspec, value)
        if error is not None:
            out.errors.append(error)
        else:
            out.values[fspec.name] = coerce(fspec, value)
    return out


def _check_reference_by_external_id(spec: ObjectSpec, name: str, value: Mapping[str, Any], out: CheckedRecord) -> None:
    lookup = _relationship(spec, name)
    keys = [k for k in value if k != "attributes"]
    if lookup is None or len(keys) != 1 or lookup.reference_to is None:
        out.errors.append(SaveError("INVALID_FIELD", f"No such column '{name}' on sobject of type {spec.name}"))
        return
    out.references[lookup.name] = (lookup.reference_to, keys[0], value[keys[0]])


def _type_error(fspec: FieldSpec, value: Any) -> SaveError:
    return SaveError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {fspec.type} from {type(value).__name__} value {value!r} "
        f"for field {fspec.name}",
        (fspec.name,),
    )


def _check_value(fspec: FieldSpec, value: Any) -> SaveError | None:  # noqa: PLR0911 - one branch per type family
    if value is None or (value == "" and fspec.type != "boolean"):
        return None
    kind = fspec.type
    if kind in _TEXT:
        return _check_text(fspec, value)
    if kind in _NUMBER or kind == "int":
        return _check_range(fspec, value) if _is_numeric(kind, value) else _type_error(fspec, value)
    if kind == "boolean":
        return None if isinstance(value, bool) else _type_error(fspec, value)
    if kind == "date":
        return None if _parses(value, _parse_date) else _type_error(fspec, value)
    if kind == "datetime":
        return None if _parses(value, _parse_datetime) else _type_error(fspec, value)
    if kind in {"reference", "id"} and (not isinstance(value, str) or normalize_id(value) is None):
        return SaveError("MALFORMED_ID", f"{fspec.label}: id value of incorrect type: {value}", (fspec.name,))
    return None


def _is_numeric(kind: str, value: Any) -> bool:
    """A JSON number (or numeric string) for the field; an `int` field takes no fraction (2.5 is not truncated)."""
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int) or _parses(value, int)
    return isinstance(value, int | float) or _parses_number(value)


def _check_range(fspec: FieldSpec, value: Any) -> SaveError | None:
    """A number with more integer digits than `precision - scale` allows does not fit the field."""
    if (fspec.type not in _NUMBER and fspec.type != "int") or fspec.precision <= 0:
        return None
    magnitude = abs(Decimal(str(value)))  # exact for large integers, where a float would round
    integer_digits = len(str(int(magnitude))) if magnitude >= 1 else 0
    if integer_digits <= fspec.precision - fspec.scale:
        return None
    return SaveError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{fspec.label}: value outside of valid range on numeric field: {value}",
        (fspec.name,),
    )


def _check_text(fspec: FieldSpec, value: Any) -> SaveError | None:
    text = value if isinstance(value, str) else str(value)
    if fspec.length and len(text) > fspec.length:
        return SaveError(
            "STRING_TOO_LONG",
            f"{fspec.label}: data value too large: {text[:60]} (max length={fspec.length})",
            (fspec.name,),
        )
    if fspec.type == "picklist" and fspec.restricted and text not in fspec.picklist:
        return SaveError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{fspec.label}: bad value for restricted picklist field: {text}",
            (fspec.name,),
        )
    if fspec.type == "email" and not _EMAIL.match(text):
        return SaveError("INVALID_EMAIL_ADDRESS", f"{fspec.label}: invalid email address: {text}", (fspec.name,))
    return None


def _parse_date(text: str) -> date:
    # Salesforce takes YYYY-MM-DD only; Python 3.11's fromisoformat would also take 20261231 and 2026-W53-4.
    if not _DATE.fullmatch(text):
        raise ValueError(f"not YYYY-MM-DD: {text!r}")
    return date.fromisoformat(text)


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))


def _parses(value: Any, parse: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _parses_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def coerce(fspec: FieldSpec, value: Any) -> Any:
    """The stored form of an already-checked value: numbers as numbers, ids in 18-character form, '' as null."""
    if value is None or (value == "" and fspec.type != "boolean"):
        return None
    if fspec.type == "int":
        return int(float(value))
    if fspec.type in _NUMBER:
        return float(value)
    if fspec.type in {"reference", "id"}:
        return normalize_id(value)
    if fspec.type in _TEXT and not isinstance(value, str):
        return str(value)
    return value


def missing_required(spec: ObjectSpec, record: Mapping[str, Any]) -> SaveError | None:
    """REQUIRED_FIELD_MISSING listing every required field without a value."""
    missing = [f.name for f in spec.fields.values() if f.required and record.get(f.name) in (None, "")]
    if not missing:
        return None
    return SaveError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing))
