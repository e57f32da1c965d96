"""Routing: a write to its lane's topic keyed by its route, a rejection to the DLQ with its reason.

The value on `crm.writes.*` (what the sink reads), JSON:
`{"sobject", "external_id_field", "external_id", "fields", "lane", "version", "event_ids", "parents",
"first_write", "authids", "ingested_ms", "operation"}`, keyed by the record's route (its first parent's key
`Account:C-1`, else its own `sobject:external_id`): a parent and its children share a partition, so one sink
worker sees both in order.
`authids` (also one `ce_authid` header each) are the producers the ingest verified for the events behind it;
`ingested_ms` is the broker's timestamp of the earliest of those events (null when unknown).
`operation` is `upsert` (absent on writes from before deletes) or `delete` (no fields: the sink finds the record
by its external ID and deletes it); a delete also has the header `operation: delete`.

A refusal notice shares the write topics: `{"kind": "refused", "sobject", "external_id_field", "external_id",
"lane", "reason", "detail"}`, keyed by the refused record's own key (the partition of its children). The
processor sends one when it dead-letters a record that other mappings reference as a parent and that the
bridge never wrote, so the sink dead-letters its children at once instead of sending them to fail.

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
from bridge.types import Lane, Operation

Headers = tuple[tuple[str, bytes], ...]

# The header `crm-bridge dlq replay` puts on a dead letter it sends back in (its value: where the letter was).
REPLAY_HEADER = "bridge_replayed_from"


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


REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The bridge refused a record it never wrote: its children cannot be written either."""

    sobject: str
    external_id_field: str
    external_id: str
    lane: Lane
    reason: str
    detail: str = ""

    @property
    def key(self) -> str:
        """The refused record's key (`sobject:external_id`), which its children name as their parent."""
        return f"{self.sobject}:{self.external_id}"


def write_message(record: MappedRecord, topics: TopicSettings) -> Outbound:
    """The write of `record` on its lane's topic, keyed by its route (every write of a key on one partition)."""
    value = orjson.dumps(
        {
            "sobject": record.sobject,
            "external_id_field": record.external_id_field,
            "external_id": record.external_id,
            "fields": record.fields,
            "lane": record.lane.value,
            "version": record.version,
            "event_ids": record.event_ids,
            "parents": record.parents,
            "first_write": record.first_write,
            "authids": record.authids,
            "ingested_ms": record.ingested_ms,
            "operation": record.operation.value,
        }
    )
    headers: Headers = (
        ("sobject", record.sobject.encode()),
        ("lane", record.lane.value.encode()),
        *((("operation", record.operation.value.encode()),) if record.is_delete else ()),
        *(("ce_authid", authid.encode()) for authid in record.authids),
    )
    return Outbound(lane_topic(record.lane, topics), record.route.encode(), value, headers)


def refusal_message(refusal: Refusal, topics: TopicSettings, *, max_detail_chars: int = 500) -> Outbound:
    """The refusal notice of a parent, on its lane's topic in the partition of its children."""
    value = orjson.dumps(
        {
            "kind": REFUSED,
            "sobject": refusal.sobject,
            "external_id_field": refusal.external_id_field,
            "external_id": refusal.external_id,
            "lane": refusal.lane.value,
            "reason": refusal.reason,
            "detail": refusal.detail[:max_detail_chars],
        }
    )
    headers = (("sobject", refusal.sobject.encode()), ("kind", REFUSED.encode()))
    return Outbound(lane_topic(refusal.lane, topics), refusal.key.encode(), value, headers)


def _legacy_parents(fields: Mapping[str, Any]) -> dict[str, str]:
    """Parents of a write produced before writes named them: `Relationship:external_id` per lookup by external ID
    (right where the relationship is named like its SObject, `Account`)."""
    parents = {}
    for name, value in fields.items():
        if isinstance(value, Mapping) and len(value) == 1:
            (ref,) = value.values()
            if isinstance(ref, str):
                parents[name] = f"{name}:{ref}"
    return parents


def decode_write(value: bytes) -> MappedRecord:
    """The inverse of `write_message`; a refusal notice is a ValueError here (see `decode_write_topic`)."""
    decoded = decode_write_topic(value)
    if isinstance(decoded, Refusal):
        raise ValueError(f"a refusal notice of {decoded.key}, not a write")  # noqa: TRY004 - bad input, as a parse error
    return decoded


def decode_write_topic(value: bytes) -> MappedRecord | Refusal:
    """A record of a write topic: a write (`write_message`) or a refusal notice (`refusal_message`)."""
    doc = orjson.loads(value)
    if doc.get("kind") == REFUSED:
        return Refusal(
            sobject=str(doc["sobject"]),
            external_id_field=str(doc["external_id_field"]),
            external_id=str(doc["external_id"]),
            lane=Lane(doc["lane"]),
            reason=str(doc["reason"]),
            detail=str(doc.get("detail", "")),
        )
    fields = doc["fields"]
    parents = doc.get("parents")
    return MappedRecord(
        sobject=doc["sobject"],
        external_id_field=doc["external_id_field"],
        external_id=doc["external_id"],
        fields=fields,
        lane=Lane(doc["lane"]),
        version=doc["version"],
        event_ids=tuple(doc["event_ids"]),
        parents=parents if isinstance(parents, dict) else _legacy_parents(fields),
        first_write=bool(doc.get("first_write", False)),
        authids=tuple(doc.get("authids") or ()),
        ingested_ms=_int_or_none(doc.get("ingested_ms")),
        operation=_operation(doc.get("operation")),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _operation(value: Any) -> Operation:
    operation = Operation(value or Operation.UPSERT.value)
    if operation is Operation.IGNORE:
        raise ValueError("an ignored delete is never a write")
    return operation


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def dead_letter_message(
    letter: DeadLetter, topics: TopicSettings, *, max_detail_chars: int = 2_000, extra_headers: Headers = ()
) -> Outbound:
    """The DLQ record for `letter`, keyed like the original so replays keep their partition; `extra_headers`
    go on the DLQ record itself (e.g. `dlq_parent`), beside `dlq_reason` and `dlq_stage`."""
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
    headers = (("dlq_reason", letter.reason.encode()), ("dlq_stage", letter.stage.encode()), *extra_headers)
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
