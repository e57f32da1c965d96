"""The CloudEvents 1.0 envelope and its codecs: Kafka binary mode and structured JSON for HTTP.

Kafka binary mode (CloudEvents Kafka protocol binding 1.0): every context attribute travels as a
`ce_<name>` header (UTF-8), the data is the record value, its media type is the `content-type` header, and
the `partitionkey` extension is the record key, so all events of one `(sobject, externalid)` share a
partition.

    event = CloudEvent(id="e-1", source="erp://acme", type="com.acme.crm.customer.upserted", data={...})
    record = encode_kafka(event)             # KafkaRecord(key, value, headers)
    assert decode_kafka(record.key, record.value, record.headers) == event

Extension attributes the bridge uses (CloudEvents names, lowercase alphanumeric, at most 20 characters):
`sobject` (target SObject), `externalid` (the record's external ID value), `extidfield` (the external ID
field), `sequence` (the source's version of the record, an integer; higher wins), `lane` (`realtime` or
`bulk`) and `partitionkey` (Kafka partitioning extension). Unknown extensions round-trip as strings.

The codecs check shape only; the envelope's and the payload's JSON Schemas are applied by `SchemaRegistry`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from bridge.errors import MalformedEvent
from bridge.types import Lane

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

_REQUIRED = ("id", "source", "type")
_OPTIONAL_STR = ("time", "subject", "datacontenttype", "dataschema")
_EXTENSION_STR = ("sobject", "externalid", "extidfield", "partitionkey")
_KNOWN = frozenset(("specversion", "data", *_REQUIRED, *_OPTIONAL_STR, *_EXTENSION_STR, "sequence", "lane"))
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_MAX_SEQUENCE = 2**63 - 1
# In binary mode these two travel as the `content-type` header and the record key.
_NOT_HEADERS = frozenset(("datacontenttype", "partitionkey"))

_NO_EXTENSIONS: Mapping[str, str] = MappingProxyType({})

Headers = Sequence[tuple[str, bytes]]


class CloudEvent(NamedTuple):
    """One CloudEvents 1.0 event with the bridge's extension attributes. `data` is any JSON value.

    A NamedTuple: immutable, and the cheapest value type to build on the publish path. Change one with
    `event._replace(lane=Lane.BULK)`.
    """

    id: str
    source: str
    type: str
    data: Any = None
    time: str | None = None
    subject: str | None = None
    datacontenttype: str | None = JSON_CONTENT_TYPE
    dataschema: str | None = None
    sobject: str | None = None
    externalid: str | None = None
    extidfield: str | None = None
    sequence: int | None = None
    lane: Lane | None = None
    partitionkey: str | None = None
    extensions: Mapping[str, str] = _NO_EXTENSIONS

    def attributes(self) -> dict[str, Any]:
        """The context attributes as structured mode spells them (no `data`); absent ones are left out."""
        # Spelled out rather than looked up by name: this runs for every published event.
        attrs: dict[str, Any] = {"specversion": SPECVERSION, "id": self.id, "source": self.source, "type": self.type}
        optional = (
            ("time", self.time),
            ("subject", self.subject),
            ("datacontenttype", self.datacontenttype),
            ("dataschema", self.dataschema),
            ("sobject", self.sobject),
            ("externalid", self.externalid),
            ("extidfield", self.extidfield),
            ("partitionkey", self.partitionkey),
            ("sequence", self.sequence),
            ("lane", None if self.lane is None else self.lane.value),
        )
        for name, value in optional:
            if value is not None:
                attrs[name] = value
        if self.extensions:
            attrs.update(self.extensions)
        return attrs


class KafkaRecord(NamedTuple):
    """A record ready for the producer: key (the partition key), value (the data) and `ce_*` headers."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def encode_kafka(event: CloudEvent) -> KafkaRecord:
    """Encode in Kafka binary mode. Raises `MalformedEvent` when data or attributes are not encodable."""
    return KafkaRecord(kafka_key(event), encode_data(event), kafka_headers(event))


def encode_data(event: CloudEvent) -> bytes | None:
    """The record value: the data as JSON bytes (None when the event has no data)."""
    try:
        return None if event.data is None else orjson.dumps(event.data)
    except orjson.JSONEncodeError as exc:
        raise MalformedEvent(f"event {event.id[:200]!r} data cannot be encoded: {exc}") from exc


def kafka_key(event: CloudEvent) -> bytes | None:
    """The record key: the `partitionkey` extension."""
    return None if event.partitionkey is None else _encode_text(event.partitionkey, "partitionkey")


def kafka_headers(event: CloudEvent, attributes: Mapping[str, Any] | None = None) -> list[tuple[str, bytes]]:
    """The `ce_*` headers and `content-type` of binary mode (`attributes`: `event.attributes()` if known)."""
    attrs = event.attributes() if attributes is None else attributes
    try:
        headers = [
            (f"ce_{name}", (value if type(value) is str else str(value)).encode())
            for name, value in attrs.items()
            if name not in _NOT_HEADERS
        ]
        if event.datacontenttype is not None:
            headers.append(("content-type", event.datacontenttype.encode()))
    except UnicodeEncodeError as exc:
        raise MalformedEvent(f"an attribute of event {event.id[:200]!r} is not valid UTF-8: {exc}") from exc
    return headers


def decode_kafka(key: bytes | None, value: bytes | None, headers: Headers) -> CloudEvent:
    """Decode a record in binary mode (or structured mode when `content-type` says so)."""
    attrs: dict[str, Any] = {}
    content_type: str | None = None
    try:
        for name, raw in headers:
            if name.startswith("ce_"):
                attrs[name[3:]] = raw.decode()
            elif name.lower() == "content-type":
                content_type = raw.decode()
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"header is not UTF-8: {exc}") from exc
    if not attrs and content_type is not None and content_type.startswith(STRUCTURED_CONTENT_TYPE):
        return parse_structured(value or b"")
    attrs.pop("partitionkey", None)
    if key is not None:
        attrs["partitionkey"] = _decode_text(key, "key")
    attrs["datacontenttype"] = content_type
    data = None if value is None else _loads(value)
    return _from_attributes(attrs, data)


def to_structured(event: CloudEvent) -> dict[str, Any]:
    """The event as a structured-mode JSON object (a dict)."""
    obj = event.attributes()
    if event.data is not None:
        obj["data"] = event.data
    return obj


def encode_structured(event: CloudEvent) -> bytes:
    """The event as `application/cloudevents+json` bytes."""
    try:
        return orjson.dumps(to_structured(event))
    except orjson.JSONEncodeError as exc:
        raise MalformedEvent(f"event {event.id!r} cannot be encoded: {exc}") from exc


def parse_structured(body: bytes | str) -> CloudEvent:
    """Parse one `application/cloudevents+json` document."""
    return decode_structured(_loads(body))


def parse_batch(body: bytes | str) -> list[Any]:
    """Parse an `application/cloudevents-batch+json` document into its items (decode each on its own)."""
    items = _loads(body)
    if not isinstance(items, list):
        raise MalformedEvent("a CloudEvents batch must be a JSON array")
    return items


def decode_structured(obj: object) -> CloudEvent:
    """Build an event from a parsed structured-mode JSON object."""
    if not isinstance(obj, dict):
        raise MalformedEvent("a CloudEvent must be a JSON object")
    if "data_base64" in obj:
        raise MalformedEvent("data_base64 is not supported: send the data as JSON")
    attrs = dict(obj)
    data = attrs.pop("data", None)
    attrs.setdefault("datacontenttype", None)
    return _from_attributes(attrs, data)


def _from_attributes(attrs: dict[str, Any], data: Any) -> CloudEvent:
    if attrs.pop("specversion", None) != SPECVERSION:
        raise MalformedEvent(f"specversion must be {SPECVERSION!r}")
    for name in _REQUIRED:
        if not isinstance(attrs.get(name), str) or not attrs[name]:
            raise MalformedEvent(f"attribute {name!r} is required and must be a non-empty string")
    for name in (*_OPTIONAL_STR, *_EXTENSION_STR):
        if attrs.get(name) is not None and not isinstance(attrs[name], str):
            raise MalformedEvent(f"attribute {name!r} must be a string")
    return CloudEvent(
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        data=data,
        time=attrs.get("time"),
        subject=attrs.get("subject"),
        datacontenttype=attrs.get("datacontenttype"),
        dataschema=attrs.get("dataschema"),
        sobject=attrs.get("sobject"),
        externalid=attrs.get("externalid"),
        extidfield=attrs.get("extidfield"),
        sequence=_sequence(attrs.get("sequence")),
        lane=_lane(attrs.get("lane")),
        partitionkey=attrs.get("partitionkey"),
        extensions=_extensions(attrs),
    )


def _sequence(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEQUENCE:
        raise MalformedEvent("attribute 'sequence' must be a non-negative 64-bit integer")
    return value


def _lane(value: object) -> Lane | None:
    if value is None:
        return None
    try:
        return Lane(str(value))
    except ValueError:
        raise MalformedEvent(f"attribute 'lane' must be one of {[lane.value for lane in Lane]}") from None


def _extensions(attrs: Mapping[str, Any]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for name, value in attrs.items():
        if name in _KNOWN:
            continue
        if not _EXTENSION_NAME.fullmatch(name):
            raise MalformedEvent(f"{name!r} is not a valid attribute name (lowercase a-z0-9, at most 20)")
        if isinstance(value, bool):
            extra[name] = "true" if value else "false"
        elif isinstance(value, str | int):
            extra[name] = str(value)
        else:
            raise MalformedEvent(f"extension attribute {name!r} must be a string, integer or boolean")
    return extra


def _encode_text(value: str, what: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError as exc:
        raise MalformedEvent(f"attribute {what!r} cannot be encoded as UTF-8: {exc}") from exc


def _decode_text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"{what} is not UTF-8: {exc}") from exc


def _loads(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"not valid JSON: {exc}") from exc
