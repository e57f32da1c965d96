"""The registry of event types: JSON Schemas from `schemas/`, compiled once, checked before anything is sent.

`schemas/envelope.schema.json` describes the context attributes; `schemas/events/<type>.schema.json` describes
the payload of one event type and carries, under `x-bridge`, where the type goes: its topic
(`domain.<system>.<entity>`), target SObject, external ID field, the payload properties that hold the external
ID and the source version, and the default lane.

    registry = SchemaRegistry.load()        # reads and compiles the files (do it at start-up)
    event = registry.check(event)           # raises MalformedEvent / UnknownEventType / SchemaViolation
    registry.spec(event.type).topic         # 'domain.erp.customer'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from bridge.errors import ConfigError, MalformedEvent, SchemaViolation, UnknownEventType
from bridge.events.envelope import JSON_CONTENT_TYPE, CloudEvent
from bridge.types import Lane

Validator = Callable[[Any], Any]

_NO_CONTROL_CHARS = "^[^\\u0000-\\u001F\\u007F]*$"
DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What the bridge knows about one event type (from the `x-bridge` block of its schema)."""

    type: str
    topic: str
    sobject: str
    external_id_field: str
    key_property: str
    sequence_property: str | None
    lane: Lane
    validate: Validator = dataclasses.field(repr=False, compare=False)


class SchemaRegistry:
    """Event types by name, with their compiled payload validators and the compiled envelope validator."""

    def __init__(self, envelope: Validator, specs: Mapping[str, EventSpec]) -> None:
        self._envelope = envelope
        self._specs = dict(specs)

    def __repr__(self) -> str:
        return f"SchemaRegistry(types={sorted(self._specs)})"

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaRegistry:
        """Read and compile `envelope.schema.json` and `events/*.schema.json` under `directory`."""
        root = directory if directory is not None else DEFAULT_SCHEMAS_DIR
        envelope = _compile(root / "envelope.schema.json")[1]
        specs = {}
        for path in sorted((root / "events").glob("*.schema.json")):
            schema, validate = _compile(path)
            spec = _spec(path, schema, validate)
            specs[spec.type] = spec
        if not specs:
            raise ConfigError(f"no event schemas under {root / 'events'}")
        return cls(envelope, specs)

    @property
    def types(self) -> list[str]:
        """The registered event types, sorted."""
        return sorted(self._specs)

    def spec(self, event_type: str) -> EventSpec:
        """The spec of `event_type`, or `UnknownEventType`."""
        try:
            return self._specs[event_type]
        except KeyError:
            raise UnknownEventType(
                f"unknown event type {event_type[:200]!r}; known types: {', '.join(self.types)}"
            ) from None

    def check(self, event: CloudEvent) -> CloudEvent:
        """Validate envelope and payload, and return the event with the bridge's extensions filled in.

        Missing `sobject`, `extidfield`, `externalid`, `sequence`, `lane`, `partitionkey` and
        `datacontenttype` are derived from the spec and the payload; given ones must agree with them.
        """
        _validate_envelope(self._envelope, event)
        spec = self.spec(event.type)
        try:
            spec.validate(event.data)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = "$" + (exc.name or "data").removeprefix("data")
            raise SchemaViolation(f"{event.type} payload at {path}: {_describe(exc)}", path=path) from None
        return _enrich(event, spec)


def _validate_envelope(validate: Validator, event: CloudEvent) -> None:
    try:
        validate(event.attributes())
    except fastjsonschema.JsonSchemaValueException as exc:
        name = (exc.name or "data").removeprefix("data").lstrip(".") or "envelope"
        raise MalformedEvent(f"attribute {name!r} {_describe(exc)}") from None


def _describe(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """The validator's message without its `data.x.y` prefix, in words where the raw rule is cryptic."""
    if exc.rule == "pattern" and exc.rule_definition == _NO_CONTROL_CHARS:
        return "must not contain control characters"
    name = exc.name or "data"
    return exc.message[len(name) :].strip() if exc.message.startswith(name) else exc.message


def _enrich(event: CloudEvent, spec: EventSpec) -> CloudEvent:
    data = event.data
    externalid = str(data[spec.key_property])
    sequence = data.get(spec.sequence_property) if spec.sequence_property else None
    derived = {
        "sobject": spec.sobject,
        "extidfield": spec.external_id_field,
        "externalid": externalid,
        "sequence": sequence,
    }
    changes: dict[str, Any] = {}
    for name, value in derived.items():
        given = getattr(event, name)
        if given is None:
            changes[name] = value
        elif value is not None and given != value:
            raise SchemaViolation(
                f"attribute {name!r} is {given!r} but the payload says {value!r}", path=f"$.{name}"
            )
    if event.lane is None:
        changes["lane"] = spec.lane
    if event.partitionkey is None:
        changes["partitionkey"] = f"{spec.sobject}:{externalid}"
    if event.datacontenttype is None:
        changes["datacontenttype"] = JSON_CONTENT_TYPE
    return dataclasses.replace(event, **changes) if changes else event


def _compile(path: Path) -> tuple[dict[str, Any], Validator]:
    try:
        schema = orjson.loads(path.read_bytes())
        return schema, fastjsonschema.compile(schema)
    except (OSError, orjson.JSONDecodeError, fastjsonschema.JsonSchemaDefinitionException) as exc:
        raise ConfigError(f"cannot load schema {path}: {exc}") from exc


def _spec(path: Path, schema: Mapping[str, Any], validate: Validator) -> EventSpec:
    meta = schema.get("x-bridge")
    if not isinstance(meta, dict):
        raise ConfigError(f"{path} has no 'x-bridge' block")
    try:
        spec = EventSpec(
            type=meta["type"],
            topic=meta["topic"],
            sobject=meta["sobject"],
            external_id_field=meta["external_id_field"],
            key_property=meta["key_property"],
            sequence_property=meta.get("sequence_property"),
            lane=Lane(meta.get("lane", Lane.REALTIME)),
            validate=validate,
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: bad 'x-bridge' block: {exc!r}") from exc
    if path.name != f"{spec.type}.schema.json":
        raise ConfigError(f"{path} declares type {spec.type!r}; name the file after its type")
    return spec
