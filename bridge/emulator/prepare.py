"""Turning API input into DML operations: checked values, the target record, and the errors found up front.

Create, update, upsert (by external id) and delete each become an `Op`, or a list of `SaveError`s that the
write path reports for that record without touching the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator.fields import check_record
from bridge.emulator.ids import normalize_id
from bridge.emulator.profile import ObjectSpec
from bridge.emulator.results import SaveError
from bridge.emulator.store import RecordStore


@dataclass(slots=True)
class Op:
    """One record's DML: `insert`, `update` or `delete` on `sobject`."""

    kind: str
    sobject: str
    values: dict[str, Any] = field(default_factory=dict)
    references: dict[str, tuple[str, str, Any]] = field(default_factory=dict)
    record_id: str | None = None
    created: bool | None = None
    external: tuple[str, Any] | None = None


Prepared = Op | list[SaveError]


def _has_id(raw: Mapping[str, Any]) -> str | None:
    return next((k for k in raw if k.lower() == "id"), None)


def prepare_create(spec: ObjectSpec, raw: Mapping[str, Any]) -> Prepared:
    """An insert, refusing an `Id` in the body."""
    if _has_id(raw) is not None:
        return [SaveError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ("Id",))]
    checked = check_record(spec, raw)
    if checked.errors:
        return checked.errors
    return Op("insert", spec.name, checked.values, checked.references)


def existing_id(store: RecordStore, spec: ObjectSpec, value: Any) -> str | SaveError:
    """The 18-character id of a live record of `spec`, or the error for a malformed, foreign or deleted id."""
    record_id = normalize_id(value) if isinstance(value, str) else None
    if record_id is None:
        return SaveError("MALFORMED_ID", f"malformed id {value}", ("Id",))
    if not record_id.startswith(spec.key_prefix):
        return SaveError("MALFORMED_ID", f"{spec.name} ID: id value of incorrect type: {value}", ("Id",))
    row = store.get(spec.name, record_id)
    if row is None:
        return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("Id",))
    if row.get("IsDeleted"):
        return SaveError("ENTITY_IS_DELETED", "entity is deleted", ("Id",))
    return record_id


def prepare_update(spec: ObjectSpec, raw: Mapping[str, Any], store: RecordStore, record_id: Any = None) -> Prepared:
    """An update of the record named by `record_id` or by the body's `Id`."""
    id_key = _has_id(raw)
    if record_id is None:
        if id_key is None:
            return [SaveError("MISSING_ARGUMENT", "Id not specified in an update call", ("Id",))]
        record_id = raw[id_key]
    found = existing_id(store, spec, record_id)
    if isinstance(found, SaveError):
        return [found]
    checked = check_record(spec, raw, allow=frozenset({id_key}) if id_key else frozenset())
    if checked.errors:
        return checked.errors
    return Op("update", spec.name, checked.values, checked.references, record_id=found)


def prepare_upsert(
    spec: ObjectSpec, external_id_field: str, raw: Mapping[str, Any], store: RecordStore, value: Any = None
) -> Prepared:
    """Insert or update matched on `external_id_field`; the value comes from the URL or the record body."""
    ext = spec.field(external_id_field)
    if ext is None or not (ext.external_id or ext.name == "Id"):
        return [
            SaveError(
                "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {external_id_field}"
            )
        ]
    body = dict(raw)
    if value is None:
        key = next((k for k in body if k.lower() == ext.name.lower()), None)
        value = body.pop(key) if key is not None else None
        if value in (None, ""):
            return [SaveError("MISSING_ARGUMENT", f"{ext.name} not specified", (ext.name,))]
    checked = check_record(spec, body)
    if checked.errors:
        return checked.errors
    matches = store.find(spec.name, ext.name, value) if ext.name != "Id" else []
    if len(matches) > 1:
        return [
            SaveError(
                "DUPLICATE_EXTERNAL_ID", f"More than 1 record found for external id field: {matches}", (ext.name,)
            )
        ]
    if matches:
        return Op("update", spec.name, checked.values, checked.references, matches[0], False, (ext.name, value))
    values = {**checked.values, ext.name: value}
    return Op("insert", spec.name, values, checked.references, None, True, (ext.name, value))


def prepare_delete(objects: Mapping[str, ObjectSpec], store: RecordStore, value: Any) -> Prepared:
    """A delete of any object's record, found by key prefix."""
    record_id = normalize_id(value) if isinstance(value, str) else None
    spec = next((o for o in objects.values() if record_id and record_id.startswith(o.key_prefix)), None)
    if record_id is None or spec is None:
        return [SaveError("MALFORMED_ID", f"malformed id {value}")]
    found = existing_id(store, spec, record_id)
    if isinstance(found, SaveError):
        return [SaveError(found.status_code, found.message)]
    return Op("delete", spec.name, record_id=found)
