"""Routing: a write to its lane's topic keyed `sobject:external_id`, a rejection to the DLQ with its reason.

The value on `crm.writes.*` (what the sink reads), JSON:
`{"sobject", "external_id_field", "external_id", "fields", "lane", "version", "event_ids", "authids"}`;
`authids` (also one `ce_authid` header each) are the producers the ingest verified for the events behind it.

The value on `crm.dlq`, JSON: `{"stage", "reason", "detail", "origin": {"topic", "partition", "offset"},
"key_b64", "payload_b64", "headers": [[name, value_b64], ...]}`; the original bytes survive unchanged so a
record can be replayed after a fix (`crm-bridge dlq replay`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.config import TopicSettings
from bridge.processing.records import MappedRecord, Origin
from bridge.types import Lane

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Outbound:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()
    partition: int | None = None  # None: the key decides (the default partitioner)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A decoded DLQ record."""

    stage: str
    reason: str
    detail: str
    origin: Origin
    key: bytes | None
    payload: bytes
    headers: Headers


def lane_topic(lane: Lane, topics: TopicSettings) -> str:
    """The write topic of a lane."""
    return topics.realtime if lane is Lane.REALTIME else topics.bulk


def write_message(record: MappedRecord, topics: TopicSettings) -> Outbound:
    """The write of `record` on its lane's topic; the key puts every write of a record on one partition."""
    value = orjson.dumps(
        {
            "sobject": record.sobject,
            "external_id_field": record.external_id_field,
            "external_id": record.external_id,
            "fields": record.fields,
            "lane": record.lane.value,
            "version": record.version,
            "event_ids": record.event_ids,
            "authids": record.authids,
        }
    )
    headers: Headers = (
        ("sobject", record.sobject.encode()),
        ("lane", record.lane.value.encode()),
        *(("ce_authid", authid.encode()) for authid in record.authids),
    )
    return Outbound(lane_topic(record.lane, topics), record.key.encode(), value, headers)


def decode_write(value: bytes) -> MappedRecord:
    """The inverse of `write_message` (for the sink and for tests)."""
    doc = orjson.loads(value)
    return MappedRecord(
        sobject=doc["sobject"],
        external_id_field=doc["external_id_field"],
        external_id=doc["external_id"],
        fields=doc["fields"],
        lane=Lane(doc["lane"]),
        version=doc["version"],
        event_ids=tuple(doc["event_ids"]),
        authids=tuple(doc.get("authids") or ()),
    )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def dead_letter_message(letter: DeadLetter, topics: TopicSettings, *, max_detail_chars: int = 2_000) -> Outbound:
    """The DLQ record for `letter`, keyed like the original so replays keep their partition."""
    doc: Mapping[str, Any] = {
        "stage": letter.stage,
        "reason": letter.reason,
        "detail": letter.detail[:max_detail_chars],
        "origin": {
            "topic": letter.origin.topic,
            "partition": letter.origin.partition,
            "offset": letter.origin.offset,
        },
        "key_b64": _b64(letter.key),
        "payload_b64": _b64(letter.payload),
        "headers": [[name, _b64(value)] for name, value in letter.headers],
    }
    headers = (("dlq_reason", letter.reason.encode()), ("dlq_stage", letter.stage.encode()))
    return Outbound(topics.dlq, letter.key, orjson.dumps(doc), headers)


def decode_dead_letter(value: bytes) -> DeadLetter:
    """The inverse of `dead_letter_message`; raises ValueError on a record that is not a DLQ record."""
    try:
        doc = orjson.loads(value)
        origin = doc["origin"]
        key = doc.get("key_b64")
        headers: Sequence[Sequence[str]] = doc.get("headers") or []
        return DeadLetter(
            stage=str(doc["stage"]),
            reason=str(doc["reason"]),
            detail=str(doc["detail"]),
            origin=Origin(str(origin["topic"]), int(origin["partition"]), int(origin["offset"])),
            key=None if key is None else base64.b64decode(key),
            payload=base64.b64decode(doc["payload_b64"] or ""),
            headers=tuple((str(n), base64.b64decode(v or "")) for n, v in headers),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a DLQ record: {exc}") from exc
