"""Draft a mapping and an event JSON Schema for an SObject from its describe: the first step of a new integration.

The draft takes the required fields, the custom fields and the lookups whose parent has an external ID (written
by that ID, as the sink expects), with describe's lengths, picklist values as enums, number sizes and date
formats; the record is upserted by the object's external-ID field. The schema carries one example event built
from the same facts. It is a draft: read it, rename properties, drop what the source system does not send.

    draft = scaffold(describes["Subscription__c"], describes, "com.acme.billing.subscription.upserted")
    draft.mapping, draft.schema, draft.example
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bridge.catalog.discovery import AUDIT_FIELDS
from bridge.catalog.naming import words
from bridge.errors import BridgeError, ConfigError

_NO_CONTROL_CHARS = "^[^\\u0000-\\u001F\\u007F]*$"
_SYSTEM = AUDIT_FIELDS | {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "SetupOwnerId"}
_TEXT = {"string", "textarea", "email", "phone", "url", "encryptedstring", "combobox", "multipicklist", "time"}
_NUMBER = {"double", "currency", "percent"}
_EVENT_TYPE = re.compile(r"[a-z0-9]+(\.[a-z0-9_-]+){2,}")
SEQUENCE_PROPERTY = "version"


class ScaffoldError(ConfigError):
    """The object cannot be scaffolded as asked (no external ID, a bad event type, ...)."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft mapping and event schema, and where they belong under a schemas folder."""

    mapping: dict[str, Any]
    schema: dict[str, Any]
    mapping_path: str
    schema_path: str

    @property
    def example(self) -> dict[str, Any]:
        """The schema's example event payload."""
        examples: list[dict[str, Any]] = self.schema["examples"]
        return examples[0]


@dataclass(frozen=True, slots=True)
class Options:
    """How to draft: topic and lane of the event type, which external ID, every createable field or a few."""

    topic: str | None = None
    lane: str = "bulk"
    external_id_field: str | None = None
    all_fields: bool = False


def property_name(api_name: str) -> str:
    """The event property for a field: `Invoice_Number__c` → `invoice_number`, `erpDealID__c` → `erp_deal_id`."""
    return "_".join(words(api_name)) or api_name.lower()


def external_id_of(describe: Mapping[str, Any], wanted: str | None = None) -> Mapping[str, Any]:
    """The field records are upserted by: `wanted`, else the unique external ID (the first by name)."""
    fields: list[Mapping[str, Any]] = list(describe.get("fields") or ())
    ids = sorted((f for f in fields if f.get("externalId")), key=lambda f: str(f["name"]))
    if wanted is not None:
        found = next((f for f in ids if f["name"] == wanted), None)
        if found is None:
            names = ", ".join(str(f["name"]) for f in ids) or "none"
            raise ScaffoldError(f"{wanted} is not an external ID field of {describe['name']} (they are: {names})")
        return found
    unique = [f for f in ids if f.get("unique")] or ids
    if not unique:
        raise ScaffoldError(
            f"{describe['name']} has no external ID field: add one (External ID, Unique) so records can be upserted"
        )
    return unique[0]


def _required(raw: Mapping[str, Any]) -> bool:
    has_default = raw.get("defaultValue") not in (None, "") or bool(raw.get("defaultValueFormula"))
    return (
        bool(raw.get("createable", True))
        and not raw.get("nillable", True)
        and not raw.get("defaultedOnCreate")
        and not has_default
        and raw.get("type") != "boolean"
    )


def _size_limits(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = raw.get("type")
    if kind == "int":
        digits = int(raw.get("digits") or raw.get("precision") or 0)
        return {"minimum": -(10**digits - 1), "maximum": 10**digits - 1} if digits else {}
    precision, scale = int(raw.get("precision") or 0), int(raw.get("scale") or 0)
    if kind in _NUMBER and precision > scale:
        bound = 10 ** (precision - scale)
        return {"exclusiveMinimum": -bound, "exclusiveMaximum": bound}
    return {}


def _value_schema(raw: Mapping[str, Any], required: bool) -> dict[str, Any]:
    kind = str(raw.get("type"))
    if kind == "picklist":
        values: list[Any] = [str(p["value"]) for p in raw.get("picklistValues") or () if p.get("active", True)]
        return {"enum": values if required else [*values, None]}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind in {"date", "datetime"}:
        schema: dict[str, Any] = {"type": "string", "format": "date" if kind == "date" else "date-time"}
    elif kind == "int":
        schema = {"type": "integer", **_size_limits(raw)}
    elif kind in _NUMBER:
        schema = {"type": "number", **_size_limits(raw)}
    else:
        schema = {"type": "string", "maxLength": int(raw.get("length") or 255)}
        if required:
            schema["minLength"] = 1
    if not required:
        schema["type"] = [schema["type"], "null"]
    return schema


@dataclass(frozen=True, slots=True)
class _Property:
    name: str
    field: str
    schema: dict[str, Any]
    required: bool
    parent: tuple[str, str] | None = None  # (sobject, external id field)


def _chosen(describe: Mapping[str, Any], key_field: str, options: Options) -> Iterator[Mapping[str, Any]]:
    for raw in describe.get("fields") or ():
        name = str(raw["name"])
        writable = raw.get("createable", True) and not raw.get("calculated") and not raw.get("autoNumber")
        if name in _SYSTEM or name == key_field or not writable:
            continue
        wanted = _required(raw) or raw.get("custom") or raw.get("nameField") or raw.get("type") == "reference"
        if options.all_fields or wanted:
            yield raw


def _parent_property(raw: Mapping[str, Any], parents: Mapping[str, Mapping[str, Any]]) -> _Property | None:
    """A lookup as its parent's external ID (`account_erp_customer_id`), or None when the parent has none."""
    targets = [t for t in raw.get("referenceTo") or () if t in parents]
    if len(targets) != 1 or not raw.get("relationshipName"):
        return None  # polymorphic, unknown or unnamed parent: left for a person to map
    try:
        parent_key = external_id_of(parents[targets[0]])
    except ScaffoldError:
        return None
    required = _required(raw)
    schema = {"type": "string", "minLength": 1, "maxLength": int(parent_key.get("length") or 255)}
    schema["pattern"] = _NO_CONTROL_CHARS
    if not required:
        schema["type"] = ["string", "null"]
    name = property_name(str(raw["relationshipName"])) + "_" + property_name(str(parent_key["name"]))
    return _Property(name, str(raw["relationshipName"]), schema, required, (targets[0], str(parent_key["name"])))


def _properties(
    describe: Mapping[str, Any], parents: Mapping[str, Mapping[str, Any]], key_field: str, options: Options
) -> list[_Property]:
    found: list[_Property] = []
    taken = {SEQUENCE_PROPERTY, property_name(key_field)}
    for raw in _chosen(describe, key_field, options):
        if raw.get("type") == "reference":
            prop = _parent_property(raw, parents)
        else:
            required = _required(raw)
            prop = _Property(property_name(str(raw["name"])), str(raw["name"]), _value_schema(raw, required), required)
        if prop is None:
            continue
        name = prop.name if prop.name not in taken else f"{prop.name}_{len(taken)}"
        taken.add(name)
        found.append(_Property(name, prop.field, prop.schema, prop.required, prop.parent))
    return found


def _example_value(schema: Mapping[str, Any], index: int) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if schema.get("format") == "date":
        return "2026-01-31"
    if schema.get("format") == "date-time":
        return "2026-01-31T12:00:00Z"
    examples: dict[str, Any] = {"boolean": False, "integer": 1, "number": 1.5}
    if kind in examples:
        return examples[kind]
    return f"EX-{index:04d}"[: int(schema.get("maxLength") or 255)]


def _topic(event_type: str) -> str:
    parts = event_type.split(".")
    return f"domain.{parts[-3]}.{parts[-2]}"


def scaffold(
    describe: Mapping[str, Any],
    parents: Mapping[str, Mapping[str, Any]],
    event_type: str,
    options: Options | None = None,
) -> Draft:
    """The draft mapping and schema of `describe`'s object for `event_type`; `parents` are other describes."""
    options = options or Options()
    if not _EVENT_TYPE.fullmatch(event_type):
        raise ScaffoldError(f"{event_type!r} is not an event type like com.acme.billing.invoice.upserted")
    key = external_id_of(describe, options.external_id_field)
    properties = _properties(describe, parents, str(key["name"]), options)
    schema = _schema(describe, event_type, key, properties, options)
    key_names = (str(key["name"]), property_name(str(key["name"])))
    mapping = _mapping(event_type, str(describe["name"]), key_names, properties, options)
    return Draft(mapping, schema, f"mappings/{event_type}.json", f"events/{event_type}.schema.json")


def _schema(
    describe: Mapping[str, Any], event_type: str, key: Mapping[str, Any], properties: list[_Property], options: Options
) -> dict[str, Any]:
    sobject, key_field, key_property = str(describe["name"]), str(key["name"]), property_name(str(key["name"]))
    key_schema = {"type": "string", "minLength": 1, "maxLength": int(key.get("length") or 255)}
    example = {key_property: "EX-0001", SEQUENCE_PROPERTY: 1}
    example |= {p.name: _example_value(p.schema, i) for i, p in enumerate(properties, start=2)}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"https://schemas.example.com/crm-bridge/events/{event_type}.schema.json",
        "title": f"{describe.get('label') or sobject} upserted (draft)",
        "description": f"Drafted by `crm-bridge scaffold {sobject}` from describe. Becomes a Salesforce "
        f"{sobject}, upserted by {key_field}.",
        "x-bridge": {
            "type": event_type,
            "topic": options.topic or _topic(event_type),
            "sobject": sobject,
            "external_id_field": key_field,
            "key_property": key_property,
            "sequence_property": SEQUENCE_PROPERTY,
            "lane": options.lane,
        },
        "type": "object",
        "required": [key_property, SEQUENCE_PROPERTY, *(p.name for p in properties if p.required)],
        "additionalProperties": False,
        "properties": {
            key_property: {**key_schema, "pattern": _NO_CONTROL_CHARS},
            SEQUENCE_PROPERTY: {"type": "integer", "minimum": 0, "maximum": 9223372036854775807},
            **{p.name: p.schema for p in properties},
        },
        "examples": [example],
    }


def _mapping(
    event_type: str, sobject: str, key: tuple[str, str], properties: list[_Property], options: Options
) -> dict[str, Any]:
    key_field, key_property = key
    fields: dict[str, Any] = {}
    for p in properties:
        entry: dict[str, Any] = {"from": f"data.{p.name}"}
        if p.parent is not None:
            entry["parent"] = {"sobject": p.parent[0], "external_id_field": p.parent[1]}
        if p.required:
            entry["required"] = True
        fields[p.field] = entry
    return {
        "event_type": event_type,
        "sobject": sobject,
        "external_id_field": key_field,
        "external_id_from": f"data.{key_property}",
        "version_from": f"data.{SEQUENCE_PROPERTY}",
        "lane": options.lane,
        "lane_from": "lane",
        "fields": fields,
    }


def check_draft(draft: Draft, envelope: Path) -> None:
    """Run the project's own checks on the draft: the schema registry loads it, the mapping loads, and the
    example event passes the schema and maps onto a record. Raises `ScaffoldError` saying what failed."""
    from bridge.events import CloudEvent, SchemaRegistry  # noqa: PLC0415 - only the scaffold needs them
    from bridge.processing.intake import to_inbound  # noqa: PLC0415
    from bridge.processing.mapping import MappingFailure, load_mappings  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="crm-bridge-scaffold-") as folder:
        root = Path(folder)
        shutil.copyfile(envelope, root / "envelope.schema.json")
        for relative, document in ((draft.schema_path, draft.schema), (draft.mapping_path, draft.mapping)):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(orjson.dumps(document))
        try:
            registry = SchemaRegistry.load(root)
            mappings = load_mappings(root / "mappings")
            event_type = draft.mapping["event_type"]
            event = registry.check(CloudEvent(id="scaffold-1", source="crm-bridge://scaffold", type=event_type,
                                              data=draft.example))  # fmt: skip
        except BridgeError as exc:
            raise ScaffoldError(f"the draft fails the project's checks: {exc}") from exc
    mapped = mappings.apply(to_inbound(event))
    if isinstance(mapped, MappingFailure):
        raise ScaffoldError(f"the draft's example does not map: {mapped.reason}: {mapped.detail}")
