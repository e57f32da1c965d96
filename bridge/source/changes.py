"""Change events as the bridge publishes them on Kafka, and the typed reader downstream systems use.

A change event from the Pub/Sub API (Avro with a `ChangeEventHeader` and bitmap field lists) becomes a
`ChangeEvent`: the header decoded, the field bitmaps expanded into names, and only the fields the change set
(or nulled) kept as values. On Kafka it travels as a CloudEvent keyed by record id, with extensions for the
replay id, the change type, echo (our own write, invariant 6) and full state (a reconciliation read).

Salesforce merges identical changes to several records of one transaction into one event (`recordIds` holds
them all: a DML on three Accounts, the two losers of a merge). On Kafka each record gets its own event, keyed by
its id, so that its changes stay in one partition's order: a merged DELETE keyed by the first id would race a
later UNDELETE of the second. `mergedRecordIds` keeps the original list. An UNDELETE (a record restored from
the Recycle Bin) carries every field of the record, like a CREATE. A merge reaches the stream as Salesforce
reports it: DELETE for the losers, UPDATE for each reparented child and for the winner, one transaction; the
losers' `MasterRecordId` (read with queryAll) names the winner.

    async with ChangeStream(bootstrap, ["crm.cdc.Account"], group_id="erp") as stream:   # bridge.source.reader
        async for event in stream:                            # echoes are skipped unless asked for
            apply(event.entity, event.record_ids, event.fields)
            await stream.commit()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bridge.errors import MalformedEvent
from bridge.events.envelope import CloudEvent, Headers, decode_kafka
from bridge.pubsub.bitmaps import decode_bitmap

CDC_TYPE = "com.salesforce.cdc.change"
PLATFORM_EVENT_TYPE = "com.salesforce.platformevent"
_HEADER_FIELDS = 1


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change to one or more records of `entity`, as Salesforce committed it."""

    entity: str
    change_type: str
    record_ids: tuple[str, ...]
    fields: Mapping[str, Any]
    changed_fields: tuple[str, ...] = ()
    nulled_fields: tuple[str, ...] = ()
    diff_fields: tuple[str, ...] = ()
    change_origin: str = ""
    transaction_key: str = ""
    sequence_number: int = 0
    commit_timestamp_ms: int = 0
    commit_number: int = 0
    commit_user: str = ""
    replay_id: str = ""
    channel: str = ""
    is_echo: bool = False
    full_state: bool = False
    extras: Mapping[str, str] = field(default_factory=dict)
    merged_record_ids: tuple[str, ...] = ()  # all of Salesforce's `recordIds` when this is one of them

    @property
    def commit_time(self) -> datetime:
        """The commit timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.commit_timestamp_ms / 1000, tz=UTC)

    @property
    def event_id(self) -> str:
        """A stable id: (transactionKey, sequenceNumber[, record]) for CDC, or the replay id for a full-state read."""
        if self.transaction_key:
            record = f":{self.record_ids[0]}" if self.merged_record_ids and self.record_ids else ""
            return f"{self.transaction_key}:{self.sequence_number}{record}"
        return f"{self.channel}:{self.replay_id}:{','.join(self.record_ids)}"


def is_echo_origin(change_origin: str, client_id: str) -> bool:
    """True when `changeOrigin` names our own client (`...;client=<id>`), compared as a whole token."""
    for part in change_origin.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "client" and value == client_id:
            return True
    return False


def from_payload(
    schema: Mapping[str, Any], decoded: Mapping[str, Any], *, replay_id: str, channel: str, client_id: str
) -> ChangeEvent:
    """Build a `ChangeEvent` from a decoded CDC payload and its writer schema (for the bitmaps)."""
    header = decoded["ChangeEventHeader"]
    changed = decode_bitmap(schema, header.get("changedFields", ()))
    nulled = decode_bitmap(schema, header.get("nulledFields", ()))
    diffs = decode_bitmap(schema, header.get("diffFields", ()))
    names = [f["name"] for f in schema["fields"][_HEADER_FIELDS:]]
    if header["changeType"] == "UPDATE":
        keep = set(changed) | set(nulled)
        values = {n: decoded.get(n) for n in names if n in keep}
    else:
        values = {n: decoded[n] for n in names if decoded.get(n) is not None}
    return ChangeEvent(
        entity=header["entityName"],
        change_type=header["changeType"],
        record_ids=tuple(header["recordIds"]),
        fields=values,
        changed_fields=tuple(changed),
        nulled_fields=tuple(nulled),
        diff_fields=tuple(diffs),
        change_origin=header.get("changeOrigin", ""),
        transaction_key=header.get("transactionKey", ""),
        sequence_number=header.get("sequenceNumber", 0),
        commit_timestamp_ms=header.get("commitTimestamp", 0),
        commit_number=header.get("commitNumber", 0),
        commit_user=header.get("commitUser", ""),
        replay_id=replay_id,
        channel=channel,
        is_echo=is_echo_origin(header.get("changeOrigin", ""), client_id),
    )


def per_record(event: ChangeEvent) -> list[ChangeEvent]:
    """One event per record of a merged change event (a wildcard `001*` or a single id stays as it is)."""
    ids = event.record_ids
    if len(ids) <= 1 or any(i.endswith("*") for i in ids):
        return [event]
    return [replace(event, record_ids=(record_id,), merged_record_ids=ids) for record_id in ids]


def to_cloud_event(event: ChangeEvent, *, source: str) -> CloudEvent:
    """The CloudEvent published on `crm.cdc.<Entity>`, keyed by the (first) record id."""
    data = {
        "entity": event.entity,
        "changeType": event.change_type,
        "recordIds": list(event.record_ids),
        "fields": dict(event.fields),
        "changedFields": list(event.changed_fields),
        "nulledFields": list(event.nulled_fields),
        "diffFields": list(event.diff_fields),
        "changeOrigin": event.change_origin,
        "transactionKey": event.transaction_key,
        "sequenceNumber": event.sequence_number,
        "commitTimestamp": event.commit_timestamp_ms,
        "commitNumber": event.commit_number,
        "commitUser": event.commit_user,
    }
    if event.merged_record_ids:
        data["mergedRecordIds"] = list(event.merged_record_ids)
    extensions = {"replayid": event.replay_id, "changetype": event.change_type, "channel": event.channel}
    extensions |= {"echo": "true"} if event.is_echo else {}
    extensions |= {"fullstate": "true"} if event.full_state else {}
    return CloudEvent(
        id=event.event_id,
        source=source,
        type=CDC_TYPE,
        data=data,
        time=event.commit_time.isoformat().replace("+00:00", "Z"),
        subject=event.record_ids[0] if event.record_ids else None,
        sobject=event.entity,
        partitionkey=event.record_ids[0] if event.record_ids else event.entity,
        extensions=extensions,
    )


def from_cloud_event(cloud_event: CloudEvent) -> ChangeEvent:
    """The typed reader's half: a `ChangeEvent` back from the CloudEvent on `crm.cdc.*`."""
    data = cloud_event.data
    ext = cloud_event.extensions
    return ChangeEvent(
        entity=data["entity"],
        change_type=data["changeType"],
        record_ids=tuple(data["recordIds"]),
        fields=data["fields"],
        changed_fields=tuple(data["changedFields"]),
        nulled_fields=tuple(data["nulledFields"]),
        diff_fields=tuple(data["diffFields"]),
        change_origin=data["changeOrigin"],
        transaction_key=data["transactionKey"],
        sequence_number=data["sequenceNumber"],
        commit_timestamp_ms=data["commitTimestamp"],
        commit_number=data["commitNumber"],
        commit_user=data["commitUser"],
        replay_id=ext.get("replayid", ""),
        channel=ext.get("channel", ""),
        is_echo=ext.get("echo") == "true",
        full_state=ext.get("fullstate") == "true",
        merged_record_ids=tuple(data.get("mergedRecordIds") or ()),
    )


def decode_change_record(key: bytes | None, value: bytes | None, headers: Headers) -> ChangeEvent:
    """Decode one Kafka record of a `crm.cdc.*` topic (raises MalformedEvent on foreign records)."""
    cloud_event = decode_kafka(key, value, headers)
    if cloud_event.type != CDC_TYPE or not isinstance(cloud_event.data, dict):
        raise MalformedEvent(f"event {cloud_event.id!r} of type {cloud_event.type!r} is not a change event")
    try:
        return from_cloud_event(cloud_event)
    except (KeyError, TypeError) as exc:
        raise MalformedEvent(f"change event {cloud_event.id!r} lacks {exc}") from exc


def full_state_event(entity: str, record: Mapping[str, Any], *, channel: str, now_ms: int) -> ChangeEvent:
    """A reconciliation read of one record, published in place of changes that could not be replayed."""
    values = {k: v for k, v in record.items() if k != "attributes"}
    return ChangeEvent(
        entity=entity,
        change_type="SNAPSHOT",
        record_ids=(str(values.get("Id", "")),),
        fields=values,
        commit_timestamp_ms=now_ms,
        channel=channel,
        full_state=True,
        replay_id=f"reconcile-{now_ms}",
    )


def sorted_by_commit(events: Sequence[ChangeEvent]) -> list[ChangeEvent]:
    """Events in commit order (commit number, then sequence within the transaction)."""
    return sorted(events, key=lambda e: (e.commit_number, e.sequence_number))
