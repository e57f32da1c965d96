"""What the sink produces: an outcome on `crm.results` for every write, a dead letter on `crm.dlq` for a failure.

The value on `crm.results`, JSON, keyed like the write (`sobject:external_id`):
`{"sobject", "external_id_field", "external_id", "id", "created", "version", "lane", "event_ids", "authids",
"origin": {"topic", "partition", "offset"}}`; `authids` (and a `ce_authid` header each) name the verified producers.

A dead letter is the processor's `DeadLetter` with stage `sink`, reason the Salesforce `errorCode` (or
`parent_not_found`, `retries_exhausted`), and as detail a JSON object `{"errorCode", "message", "fields"}`;
the original write record travels unchanged as the payload.
"""

from __future__ import annotations

from typing import Any

import orjson

from bridge.config import TopicSettings
from bridge.processing.records import Origin
from bridge.processing.routing import DeadLetter, Outbound, dead_letter_message
from bridge.sink.items import WriteItem
from bridge.sink.outcomes import Failure, Written

DLQ_STAGE = "sink"


def result_message(item: WriteItem, written: Written, topics: TopicSettings) -> Outbound:
    """The outcome of a successful write on `crm.results`."""
    record = item.record
    doc: dict[str, Any] = {
        "sobject": record.sobject,
        "external_id_field": record.external_id_field,
        "external_id": record.external_id,
        "id": written.sf_id,
        "created": written.created,
        "version": record.version,
        "lane": record.lane.value,
        "event_ids": list(record.event_ids),
        "authids": list(record.authids),
        "origin": {"topic": item.topic, "partition": item.partition, "offset": item.offset},
    }
    headers: tuple[tuple[str, bytes], ...] = (
        ("sobject", record.sobject.encode()),
        ("outcome", b"created" if written.created else b"updated"),
        *(("ce_authid", authid.encode()) for authid in record.authids),
    )
    return Outbound(topics.results, record.key.encode(), orjson.dumps(doc), headers)


def failure_message(item: WriteItem, failure: Failure, topics: TopicSettings, *, reason: str | None = None) -> Outbound:
    """The dead letter of a record Salesforce will not take (or that waited too long)."""
    detail = orjson.dumps(
        {"errorCode": failure.error_code, "message": failure.message, "fields": list(failure.fields)}
    ).decode()
    letter = DeadLetter(
        stage=DLQ_STAGE,
        reason=reason or failure.error_code,
        detail=detail,
        origin=Origin(item.topic, item.partition, item.offset),
        key=item.key,
        payload=item.value,
        headers=item.headers,
    )
    return dead_letter_message(letter, topics)
