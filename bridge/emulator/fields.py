"""Field-level checks on incoming values: known and writable fields, types, lengths, picklists and id formats.

The checks are pure: they turn a JSON record into typed values plus the relationship references
(`"Account": {"External_Id__c": "A-1"}`) left for the write path to resolve against the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bridge.emulator.ids import normalize_id
from bridge.emulator.profile import FieldSpec, ObjectSpec
from bridge.emulator.results import SaveError
from bridge.emulator.values import NUMBER_TYPES, READERS, TEXT_TYPES, Unreadable, canonical_picklist

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


def _check_value(fspec: FieldSpec, value: Any) -> SaveError | None:
    if value is None or (value == "" and fspec.type != "boolean"):
        return None
    try:
        stored = coerce(fspec, value)
    except Unreadable:
        return _type_error(fspec, value)
    if fspec.type in NUMBER_TYPES or fspec.type == "int":
        return _check_range(fspec, stored)
    if fspec.type in TEXT_TYPES or fspec.type in {"picklist", "multipicklist"}:
        return _check_text(fspec, stored)
    if fspec.type in {"reference", "id"} and (not isinstance(value, str) or normalize_id(value) is None):
        return SaveError("MALFORMED_ID", f"{fspec.label}: id value of incorrect type: {value}", (fspec.name,))
    return None


def _check_range(fspec: FieldSpec, value: float) -> SaveError | None:
    """A number with more integer digits than `precision - scale` allows does not fit the field."""
    if fspec.precision <= 0:
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


def _check_text(fspec: FieldSpec, text: str) -> SaveError | None:
    if fspec.length and len(text) > fspec.length:
        return SaveError(
            "STRING_TOO_LONG",
            f"{fspec.label}: data value too large: {text[:60]} (max length={fspec.length})",
            (fspec.name,),
        )
    if fspec.type in {"picklist", "multipicklist"} and fspec.restricted:
        _, unknown = canonical_picklist(text, fspec.picklist, multi=fspec.type == "multipicklist")
        if unknown:
            return SaveError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{fspec.label}: bad value for restricted picklist field: {unknown[0]}",
                (fspec.name,),
            )
    if fspec.type == "email" and not _EMAIL.match(text):
        return SaveError("INVALID_EMAIL_ADDRESS", f"{fspec.label}: invalid email address: {text}", (fspec.name,))
    return None


def coerce(fspec: FieldSpec, value: Any) -> Any:
    """The stored form of a value (see `values`): numbers as numbers, datetimes in UTC, ids in 18-character form,
    restricted picklist values in their defined case, '' as null; raises `Unreadable` for what the org refuses."""
    if value is None or (value == "" and fspec.type != "boolean"):
        return None
    if fspec.type in {"reference", "id"}:
        return normalize_id(value) if isinstance(value, str) else value
    reader = READERS.get(fspec.type)
    stored = value if reader is None else reader(value)
    if fspec.type in {"picklist", "multipicklist"} and fspec.restricted:
        stored, _ = canonical_picklist(stored, fspec.picklist, multi=fspec.type == "multipicklist")
    return stored


def missing_required(spec: ObjectSpec, record: Mapping[str, Any]) -> SaveError | None:
    """REQUIRED_FIELD_MISSING listing every required field without a value."""
    missing = [f.name for f in spec.fields.values() if f.required and record.get(f.name) in (None, "")]
    if not missing:
        return None
    return SaveError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing))
