"""What the sink produces: an outcome on `crm.results` for every write, a dead letter on `crm.dlq` for a failure.

The value on `crm.results`, JSON, keyed like the write (`sobject:external_id`):
`{"sobject", "external_id_field", "external_id", "id", "created", "deleted", "version", "lane", "event_ids",
"authids", "origin": {"topic", "partition", "offset"}}` (a delete: `deleted` true, and `id` null when the record
was not in the org; header `outcome` is `created`, `updated` or `deleted`); `authids` (and a `ce_authid` header
each) name the verified producers.

A dead letter is the processor's `DeadLetter` with stage `sink`, reason the Salesforce `errorCode` (or
`parent_not_found`, `parent_refused`, `parent_deleted`, `retries_exhausted`), and as detail a JSON object
`{"errorCode", "message", "fields"}`; the original write record travels unchanged as the payload. A child
dead-lettered because its parent was refused (`parent_refused`) or deleted (`parent_deleted`), no call spent,
names the parent and its reason in the headers `dlq_parent`, `dlq_parent_reason` (and in the detail's `parent`,
`parentReason`), so that both can be replayed after a fix.
"""

from __future__ import annotations

from typing import Any

import orjson

from bridge.config import TopicSettings
from bridge.processing.records import Origin
from bridge.processing.routing import DeadLetter, Outbound, dead_letter_message
from bridge.sink.items import WriteItem
from bridge.sink.outcomes import Failure, FailureKind, Written
from bridge.sink.parents import ParentRefusal

DLQ_STAGE = "sink"
PARENT_REFUSED = "parent_refused"
PARENT_NOT_FOUND = "parent_not_found"
PARENT_DELETED = "parent_deleted"


def result_message(item: WriteItem, written: Written, topics: TopicSettings) -> Outbound:
    """The outcome of a successful write on `crm.results`."""
    record = item.record
    doc: dict[str, Any] = {
        "sobject": record.sobject,
        "external_id_field": record.external_id_field,
        "external_id": record.external_id,
        "id": written.sf_id,
        "created": written.created,
        "deleted": written.deleted,
        "version": record.version,
        "lane": record.lane.value,
        "event_ids": list(record.event_ids),
        "authids": list(record.authids),
        "origin": {"topic": item.topic, "partition": item.partition, "offset": item.offset},
    }
    headers: tuple[tuple[str, bytes], ...] = (
        ("sobject", record.sobject.encode()),
        ("outcome", b"deleted" if written.deleted else b"created" if written.created else b"updated"),
        *(("ce_authid", authid.encode()) for authid in record.authids),
    )
    return Outbound(topics.results, record.key.encode(), orjson.dumps(doc), headers)


def failure_message(
    item: WriteItem,
    failure: Failure,
    topics: TopicSettings,
    *,
    reason: str | None = None,
    parent: ParentRefusal | None = None,
) -> Outbound:
    """The dead letter of a record Salesforce will not take (or that waited too long, or whose `parent` was
    refused)."""
    doc: dict[str, Any] = {"errorCode": failure.error_code, "message": failure.message, "fields": list(failure.fields)}
    extra: tuple[tuple[str, bytes], ...] = ()
    if parent is not None:
        doc |= {"parent": parent.key, "parentStage": parent.stage, "parentReason": parent.reason}
        extra = (("dlq_parent", parent.key.encode()), ("dlq_parent_reason", parent.reason.encode()))
    detail = orjson.dumps(doc).decode()
    letter = DeadLetter(
        stage=DLQ_STAGE,
        reason=reason or failure.error_code,
        detail=detail,
        origin=Origin(item.topic, item.partition, item.offset),
        key=item.key,
        payload=item.value,
        headers=item.headers,
    )
    return dead_letter_message(letter, topics, extra_headers=extra)


def parent_refused_message(item: WriteItem, parent: ParentRefusal, topics: TopicSettings) -> Outbound:
    """The dead letter of a child whose parent the bridge refused: sent nowhere, no call spent."""
    if parent.reason == PARENT_DELETED:
        message = f"parent {parent.key} was deleted (its source system deleted it) before this record was written"
        failure = Failure(FailureKind.PERMANENT, "PARENT_DELETED", message, ())
        return failure_message(item, failure, topics, reason=PARENT_DELETED, parent=parent)
    message = f"parent {parent.key} was refused ({parent.stage}: {parent.reason}); replay it, then this record"
    failure = Failure(FailureKind.PERMANENT, "PARENT_REFUSED", message, ())
    return failure_message(item, failure, topics, reason=PARENT_REFUSED, parent=parent)
