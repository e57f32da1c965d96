"""Declarative mappings from domain event types to SObject records, loaded from `schemas/mappings/*.json`.

A mapping names the target SObject, its external ID field, where the external ID and the ordering version
come from, the lane, and each target field: copied from a path (`data.name`), a constant, optionally passed
through simple transforms (`trim`, `upper`, `lower`, `number`, `integer`, `date:<strptime format>`,
`datetime:<strptime format>`), or a parent referenced by its external ID.

A mapping also says how a delete at the source is recognised: its whole event type is one (`"operation":
"delete"`, e.g. `com.acme.crm.customer.deleted`), or a field names the operation (`"delete": {"when_from":
"data.op", "when_values": ["d"]}`); and what the delete does in Salesforce (`"delete": {"action": ...}`):
`delete` the record (the sink looks its Id up by external ID), `soft` (upsert `soft_fields` instead, e.g.
`ERP_Deleted__c = true`) or `ignore` (skipped, counted as `ignored`).

    mappings = load_mappings(Path("schemas/mappings"))
    result = mappings.apply(event)   # MappedRecord | MappingFailure
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bridge.errors import ConfigError
from bridge.processing.records import InboundEvent, MappedRecord
from bridge.processing.transforms import (
    MISSING,
    TransformError,
    compile_field,
    path_getter,
    resolve,
    to_version,
    transform_for,
)
from bridge.types import Lane, Operation

# Conservative on purpose: external IDs travel in URLs (`/sobjects/Account/External_Id__c/<id>`) and in
# logs; anything outside this set is refused with a reason rather than escaped and hoped for.
EXTERNAL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,254}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ParentRef(_Model):
    """A lookup written as `{"<relationship>": {"<parent external_id_field>": <value>}}`."""

    sobject: str
    external_id_field: str


class FieldSpec(_Model):
    """One target field: `from` a path or a `const`, then `transforms` in order."""

    source: str | None = Field(default=None, alias="from")
    const: Any = None
    transforms: tuple[str, ...] = ()
    parent: ParentRef | None = None
    required: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.source is None) == (self.const is None):
            raise ValueError("a field takes exactly one of 'from' and 'const'")
        for name in self.transforms:
            transform_for(name)
        return self

    @functools.cached_property
    def read(self) -> Callable[[InboundEvent], Any]:
        """This field's value in `event` (compiled once: a mapping is applied to every event)."""
        parent_field = None if self.parent is None else self.parent.external_id_field
        return compile_field(
            self.source, self.const, self.transforms, required=self.required, parent_field=parent_field
        )


class DeleteAction(StrEnum):
    """What a delete at the source does in Salesforce."""

    DELETE = "delete"  # delete the record (to the Recycle Bin), found by its external ID
    SOFT = "soft"  # keep the record; upsert the mapping's `soft_fields` (e.g. `ERP_Deleted__c = true`)
    IGNORE = "ignore"  # leave Salesforce alone; the event is skipped and counted as `ignored`


class DeleteSpec(_Model):
    """How a delete is recognised besides a delete event type (`when_from`), and what it does (`action`)."""

    when_from: str | None = None
    when_values: tuple[str, ...] = ("d", "delete", "deleted")
    action: DeleteAction = DeleteAction.DELETE
    soft_fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _soft_has_fields(self) -> DeleteSpec:
        if self.action is DeleteAction.SOFT and not self.soft_fields:
            raise ValueError("a soft delete needs 'soft_fields' (what marks the record deleted)")
        return self


class EventMapping(_Model):
    """The mapping of one domain event type, or of one Debezium topic (`debezium_topic`), onto one SObject.

    A Debezium mapping reads the row's columns as `data.<column>`, takes the source position as its version
    unless `version_from` says otherwise, and treats `op` `d` as a delete (see `bridge.processing.debezium`).
    """

    event_type: str
    debezium_topic: str | None = None
    sobject: str
    external_id_field: str
    external_id_from: str
    version_from: str | None = None
    lane: Lane = Lane.BULK
    lane_from: str | None = None
    operation: Operation = Operation.UPSERT
    delete: DeleteSpec = Field(default_factory=DeleteSpec)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _debezium_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or not raw.get("debezium_topic"):
            return raw
        raw = {"event_type": f"debezium:{raw['debezium_topic']}", "version_from": "sequence", **raw}
        delete = dict(raw.get("delete") or {})
        delete.setdefault("when_from", "subject")  # the Debezium `op`
        return raw | {"delete": delete}

    @model_validator(mode="after")
    def _operation(self) -> EventMapping:
        if self.operation is Operation.IGNORE:
            raise ValueError("operation is 'upsert' or 'delete' (to ignore deletes, set delete.action)")
        return self

    def is_delete(self, event: InboundEvent) -> bool:
        """Whether `event` deletes its record: a delete event type, or its operation field says so."""
        if self.operation is Operation.DELETE:
            return True
        if self.delete.when_from is None:
            return False
        return resolve(event, self.delete.when_from) in self.delete.when_values


@dataclass(frozen=True, slots=True)
class MappingFailure:
    """Why an event could not be mapped: a reason code for the DLQ and a human detail."""

    reason: str
    detail: str


def _external_id(mapping: EventMapping, event: InboundEvent) -> str | MappingFailure:
    raw = resolve(event, mapping.external_id_from)
    if raw is MISSING or raw is None or raw == "":
        return MappingFailure("missing_external_id", f"{mapping.external_id_from} is missing")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return MappingFailure("invalid_external_id", f"{mapping.external_id_from} is not text or an integer")
    text = str(raw)
    if not EXTERNAL_ID_PATTERN.fullmatch(text):
        return MappingFailure(
            "invalid_external_id", f"external ID {text[:80]!r} has characters outside [A-Za-z0-9._:@+-]"
        )
    return text


def _lane(mapping: EventMapping, event: InboundEvent) -> Lane:
    if mapping.lane_from is not None:
        value = resolve(event, mapping.lane_from)
        if value in {lane.value for lane in Lane}:
            return Lane(value)
    return mapping.lane


def _delete_operation(mapping: EventMapping) -> tuple[Operation, Mapping[str, FieldSpec]]:
    """The operation of a delete event and the fields it writes (only a soft delete writes any)."""
    action = mapping.delete.action
    if action is DeleteAction.SOFT:
        return Operation.UPSERT, mapping.delete.soft_fields
    return (Operation.IGNORE if action is DeleteAction.IGNORE else Operation.DELETE), {}


def apply_mapping(mapping: EventMapping, event: InboundEvent) -> MappedRecord | MappingFailure:
    """Map one event; every expected problem comes back as a `MappingFailure`, never as an exception."""
    external_id = _external_id(mapping, event)
    if isinstance(external_id, MappingFailure):
        return external_id
    operation: Operation = Operation.UPSERT
    specs: Mapping[str, FieldSpec] = mapping.fields
    if mapping.is_delete(event):
        operation, specs = _delete_operation(mapping)
    fields: dict[str, Any] = {}
    parents: dict[str, str] = {}
    try:
        for name, spec in specs.items():
            value = spec.read(event)
            if value is MISSING:
                continue
            fields[name] = value
            if spec.parent is not None and value is not None:
                parents[name] = f"{spec.parent.sobject}:{value[spec.parent.external_id_field]}"
        version = to_version(path_getter(mapping.version_from)(event)) if mapping.version_from else None
    except TransformError as exc:
        return MappingFailure("transform_failed", str(exc))
    if operation is Operation.UPSERT:
        fields[mapping.external_id_field] = external_id
    return MappedRecord(
        sobject=mapping.sobject,
        external_id_field=mapping.external_id_field,
        external_id=external_id,
        fields=fields,
        lane=_lane(mapping, event),
        version=version,
        event_ids=(event.id,),
        parents=parents,
        authids=(event.authid,) if event.authid else (),
        operation=operation,
    )


@dataclass(frozen=True, slots=True)
class Mappings:
    """All mappings by event type."""

    by_type: Mapping[str, EventMapping]

    def apply(self, event: InboundEvent) -> MappedRecord | MappingFailure:
        """Map `event` by its type; an unmapped type is a `MappingFailure("unknown_type", ...)`."""
        mapping = self.by_type.get(event.type)
        if mapping is None:
            return MappingFailure("unknown_type", f"no mapping for event type {event.type[:200]!r}")
        return apply_mapping(mapping, event)

    @property
    def sobjects(self) -> frozenset[str]:
        """The SObjects these mappings write (what the org metadata must cover)."""
        return frozenset(m.sobject for m in self.by_type.values())

    @property
    def debezium_topics(self) -> frozenset[str]:
        """The Debezium topics these mappings read."""
        return frozenset(m.debezium_topic for m in self.by_type.values() if m.debezium_topic)

    @property
    def parent_sobjects(self) -> frozenset[str]:
        """The SObjects that other mappings reference as parents (their refusals matter to children)."""
        return frozenset(
            spec.parent.sobject
            for mapping in self.by_type.values()
            for spec in (*mapping.fields.values(), *mapping.delete.soft_fields.values())
            if spec.parent is not None
        )


def parse_mappings(documents: list[Any]) -> Mappings:
    """Build `Mappings` from parsed JSON documents (each one mapping or a list of mappings)."""
    by_type: dict[str, EventMapping] = {}
    for document in documents:
        for item in document if isinstance(document, list) else [document]:
            try:
                mapping = EventMapping.model_validate(item)
            except ValidationError as exc:
                raise ConfigError(f"invalid mapping: {exc}") from exc
            if mapping.event_type in by_type:
                raise ConfigError(f"two mappings for event type {mapping.event_type!r}")
            by_type[mapping.event_type] = mapping
    return Mappings(by_type=by_type)


def load_mappings(directory: Path) -> Mappings:
    """Read every `*.json` under `directory` (sorted, so the result does not depend on the file system)."""
    documents = [orjson.loads(path.read_bytes()) for path in sorted(directory.glob("*.json"))]
    if not documents:
        raise ConfigError(f"no mappings in {directory}")
    return parse_mappings(documents)


def default_mappings_dir() -> Path:
    """`schemas/mappings` of this checkout (the default when `ProcessorSettings.schemas_dir` is unset)."""
    return Path(__file__).resolve().parents[2] / "schemas" / "mappings"
