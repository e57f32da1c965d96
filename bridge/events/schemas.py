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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
import orjson
from fastjsonschema.draft04 import CodeGeneratorDraft04

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
    realtime_topic: str | None = None  # where its real-time events go (`x-bridge.realtime_topic`); None: `topic`

    def topic_for(self, lane: Lane | None) -> str:
        """The topic an event of this type on `lane` is published on. Real-time events have a topic of their own
        when the schema names one, so a person's edit never queues behind a batch sync in the processor."""
        if (lane or self.lane) is Lane.REALTIME and self.realtime_topic:
            return self.realtime_topic
        return self.topic


class SchemaRegistry:
    """Event types by name, with their compiled payload validators and the compiled envelope validator."""

    def __init__(
        self,
        envelope: Validator,
        specs: Mapping[str, EventSpec],
        envelope_rules: _AttributeRules | None = None,
    ) -> None:
        self._envelope = envelope
        self._rules = envelope_rules
        self._specs = dict(specs)

    def __repr__(self) -> str:
        return f"SchemaRegistry(types={sorted(self._specs)})"

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaRegistry:
        """Read and compile `envelope.schema.json` and `events/*.schema.json` under `directory`."""
        root = directory if directory is not None else DEFAULT_SCHEMAS_DIR
        envelope_schema, envelope = _compile(root / "envelope.schema.json")
        specs = {}
        for path in sorted((root / "events").glob("*.schema.json")):
            schema, validate = _compile(path)
            spec = _spec(path, schema, validate)
            specs[spec.type] = spec
        if not specs:
            raise ConfigError(f"no event schemas under {root / 'events'}")
        return cls(envelope, specs, _AttributeRules.from_schema(envelope_schema))

    @property
    def types(self) -> list[str]:
        """The registered event types, sorted."""
        return sorted(self._specs)

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic the registered event types are published on, sorted."""
        topics = {spec.topic for spec in self._specs.values()}
        topics |= {spec.realtime_topic for spec in self._specs.values() if spec.realtime_topic}
        return tuple(sorted(topics))

    @property
    def realtime_topics(self) -> tuple[str, ...]:
        """The topics of real-time events (those the schemas name as `realtime_topic`), sorted."""
        return tuple(sorted({spec.realtime_topic for spec in self._specs.values() if spec.realtime_topic}))

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
        return self.check_attributes(event)[0]

    def check_attributes(self, event: CloudEvent) -> tuple[CloudEvent, dict[str, Any]]:
        """`check`, also returning the checked event's context attributes (the encoder reuses them)."""
        spec = self.spec(event.type)
        try:
            spec.validate(event.data)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = "$" + (exc.name or "data").removeprefix("data")
            raise SchemaViolation(f"{event.type} payload at {path}: {_describe(exc)}", path=path) from None
        # The envelope is checked after enrichment, so derived attributes (externalid, ...) are checked too.
        checked = _enrich(event, spec)
        attributes = checked.attributes()
        if self._rules is None or not self._rules.accept(attributes):
            _validate_envelope(self._envelope, attributes)
        return checked, attributes


def _validate_envelope(validate: Validator, attributes: dict[str, Any]) -> None:
    try:
        validate(attributes)
    except fastjsonschema.JsonSchemaValueException as exc:
        name = (exc.name or "data").removeprefix("data").lstrip(".") or "envelope"
        raise MalformedEvent(f"attribute {name!r} {_describe(exc)}") from None
    raise MalformedEvent("the envelope does not satisfy envelope.schema.json")


class _Rule(NamedTuple):
    kind: type
    min_length: int
    max_length: int
    minimum: int
    maximum: int
    pattern: re.Pattern[str] | None
    values: frozenset[Any] | None
    printable_passes: bool  # the pattern only forbids control characters: `str.isprintable()` proves it holds


# Attributes whose values repeat across events; remembering accepted values skips their checks.
_REPEATING = frozenset(("specversion", "source", "type", "datacontenttype", "dataschema", "sobject", "extidfield"))
_REPEATING |= {"lane"}
_KNOWN_MAX = 4_096
_RULE_KEYWORDS = {
    "type",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "format",
    "enum",
    "const",
}
_IGNORED_KEYWORDS = {"description", "title"}


class _AttributeRules:
    """The envelope schema's checks as plain Python, built from the schema itself (the hot path's fast test).

    `accept` answers yes/no; on "no" the full fastjsonschema validator runs and explains. Only the keywords
    the envelope schema uses are supported, and loading fails on any other, so the two cannot drift apart.
    """

    def __init__(self, rules: dict[str, _Rule], extension: tuple[re.Pattern[str], _Rule], max_count: int) -> None:
        self._rules = rules
        self._extension_name, self._extension = extension
        self._max_count = max_count
        self._known: set[tuple[str, Any]] = set()  # (attribute, value) pairs already accepted

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> _AttributeRules | None:
        pattern_props = schema.get("patternProperties", {})
        if len(pattern_props) != 1 or schema.get("additionalProperties") is not False:
            return None
        rules = {name: _rule(d) for name, d in schema.get("properties", {}).items()}
        [(name_pattern, ext)] = pattern_props.items()
        if None in rules.values() or set(schema.get("required", ())) - {
            "specversion",
            "id",
            "source",
            "type",
        }:
            return None
        extension = _rule(ext)
        if extension is None:
            return None
        return cls(rules, (_regex(name_pattern), extension), schema.get("maxProperties", 1 << 30))  # type: ignore[arg-type]

    def accept(self, attributes: Mapping[str, Any]) -> bool:
        if len(attributes) > self._max_count:
            return False
        known = self._known
        for name, value in attributes.items():
            if (name, value) in known:
                continue
            rule = self._rules.get(name)
            if rule is None:
                if not self._extension_name.search(name):
                    return False
                rule = self._extension
            if not _passes(rule, value):
                return False
            if name in _REPEATING and len(known) < _KNOWN_MAX:
                known.add((name, value))
        return True


def _passes(rule: _Rule, value: object) -> bool:
    if rule.values is not None:
        return value in rule.values and type(value) is not bool
    if rule.kind is str:
        return (
            type(value) is str
            and rule.min_length <= len(value) <= rule.max_length
            and (
                rule.pattern is None
                or (rule.printable_passes and value.isprintable())
                or rule.pattern.search(value) is not None
            )
        )
    return type(value) is int and rule.minimum <= value <= rule.maximum


def _rule(definition: Mapping[str, Any]) -> _Rule | None:
    if set(definition) - _RULE_KEYWORDS - _IGNORED_KEYWORDS:
        return None
    values = definition.get("enum", [definition["const"]] if "const" in definition else None)
    kind = {"string": str, "integer": int}.get(definition.get("type", ""), object)
    if values is None and kind is object:
        return None
    pattern = definition.get("pattern") or CodeGeneratorDraft04.FORMAT_REGEXS.get(definition.get("format", ""))
    if "format" in definition and definition["format"] not in CodeGeneratorDraft04.FORMAT_REGEXS:
        return None
    return _Rule(
        kind=kind,
        min_length=definition.get("minLength", 0),
        max_length=definition.get("maxLength", 1 << 62),
        minimum=definition.get("minimum", -(1 << 63)),
        maximum=definition.get("maximum", 1 << 63),
        pattern=_regex(pattern) if pattern else None,
        printable_passes=pattern == _NO_CONTROL_CHARS,
        values=None if values is None else frozenset(values),
    )


def _regex(pattern: str) -> re.Pattern[str]:
    # fastjsonschema (and JSON Schema) let `$` match only at the very end; Python's `$` also before a newline.
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


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
    _agree(event, "sobject", spec.sobject)
    _agree(event, "extidfield", spec.external_id_field)
    _agree(event, "externalid", externalid)
    _agree(event, "sequence", sequence)
    # Built field by field: this runs once per published event and `dataclasses.replace` is slow.
    return CloudEvent(
        id=event.id,
        source=event.source,
        type=event.type,
        data=data,
        time=event.time,
        subject=event.subject,
        datacontenttype=event.datacontenttype or JSON_CONTENT_TYPE,
        dataschema=event.dataschema,
        sobject=spec.sobject,
        externalid=externalid,
        extidfield=spec.external_id_field,
        sequence=event.sequence if sequence is None else sequence,
        lane=event.lane or spec.lane,
        partitionkey=event.partitionkey or f"{spec.sobject}:{externalid}",
        extensions=event.extensions,
    )


def _agree(event: CloudEvent, name: str, derived: object) -> None:
    given = getattr(event, name)
    if given is not None and derived is not None and given != derived:
        raise SchemaViolation(f"attribute {name!r} is {given!r} but the payload says {derived!r}", path=f"$.{name}")


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
            realtime_topic=meta.get("realtime_topic"),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: bad 'x-bridge' block: {exc!r}") from exc
    if path.name != f"{spec.type}.schema.json":
        raise ConfigError(f"{path} declares type {spec.type!r}; name the file after its type")
    return spec
