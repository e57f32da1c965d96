"""Avro payloads of Pub/Sub events: the change-event schema layout, schema ids, and the binary codec.

Payloads are raw Avro binary without a container; each is decoded with its own writer schema, fetched once
by id (`GetSchema`) and cached. Change-event schemas put `ChangeEventHeader` at index 0, then every field
of the object as a nullable union, which is what the field bitmaps index.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import fastavro
import orjson
from fastavro.schema import fingerprint, to_parsing_canonical_form

CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
)

_STRING_LIST = {"type": "array", "items": "string"}
_HEADER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": _STRING_LIST},
        {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)}},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": _STRING_LIST},
        {"name": "diffFields", "type": _STRING_LIST},
        {"name": "changedFields", "type": _STRING_LIST},
    ],
}

# Salesforce describe types → Avro. Date-times travel as epoch milliseconds (as observed on the real API).
_AVRO_TYPES: Mapping[str, str] = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "datetime": "long",
}


def _avro_type(sf_type: str) -> str:
    return _AVRO_TYPES.get(sf_type, "string")


def change_event_schema(entity: str, fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The `<Entity>ChangeEvent` schema for an object's `(field name, describe type)` pairs."""
    name = f"{entity.removesuffix('__c')}ChangeEvent" if entity.endswith("__c") else f"{entity}ChangeEvent"
    return {
        "type": "record",
        "name": name,
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "ChangeEventHeader", "type": _HEADER_SCHEMA},
            *({"name": n, "type": ["null", _avro_type(t)], "default": None} for n, t in fields),
        ],
    }


def platform_event_schema(event_name: str, fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The schema of a Platform Event `X__e`: CreatedDate (epoch ms), CreatedById, then its custom fields."""
    return {
        "type": "record",
        "name": event_name,
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"},
            {"name": "CreatedById", "type": "string"},
            *({"name": n, "type": ["null", _avro_type(t)], "default": None} for n, t in fields),
        ],
    }


def schema_id_of(schema: Mapping[str, Any]) -> str:
    """A stable id for a schema: the Rabin fingerprint of its canonical form, base64url without padding."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(dict(schema)))
    digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode_payload(parsed_schema: Any, record: Mapping[str, Any]) -> bytes:
    """Avro binary of one record, without a container header."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, dict(record))
    return buffer.getvalue()


def decode_payload(parsed_schema: Any, payload: bytes) -> dict[str, Any]:
    """Decode one payload with its writer schema."""
    return cast(dict[str, Any], fastavro.schemaless_reader(io.BytesIO(payload), parsed_schema, None))


class SchemaCache:
    """Writer schemas by id, fetched once each through `fetch(schema_id) -> schema_json`."""

    def __init__(self, fetch: Callable[[str], Awaitable[str]]) -> None:
        self._fetch = fetch
        self._schemas: dict[str, tuple[dict[str, Any], Any]] = {}

    async def get(self, schema_id: str) -> tuple[dict[str, Any], Any]:
        """The schema as JSON (for bitmap decoding) and parsed (for the codec)."""
        cached = self._schemas.get(schema_id)
        if cached is None:
            raw = cast(dict[str, Any], orjson.loads(await self._fetch(schema_id)))
            cached = (raw, fastavro.parse_schema(raw))
            self._schemas[schema_id] = cached
        return cached

    def __len__(self) -> int:
        return len(self._schemas)
