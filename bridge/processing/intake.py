"""Intake: Kafka record bytes to an `InboundEvent`, or the reason they cannot be one (size, bytes, schema).

event = decode_record(key, value, headers, registry, max_event_bytes=1_000_000)
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.errors import EventError, EventTooLarge
from bridge.events import CloudEvent, SchemaRegistry, decode_kafka
from bridge.processing.pipeline import Rejected
from bridge.processing.records import InboundEvent


def to_inbound(event: CloudEvent) -> InboundEvent:
    """The processor's view of a checked CloudEvent."""
    data = event.data if isinstance(event.data, dict) else {}
    return InboundEvent(
        id=event.id,
        type=event.type,
        source=event.source,
        data=data,
        time=event.time,
        subject=event.subject,
        sobject=event.sobject,
        externalid=event.externalid,
        sequence=event.sequence,
        lane=None if event.lane is None else event.lane.value,
        authid=event.extensions.get("authid"),
    )


def decode_record(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    registry: SchemaRegistry,
    *,
    max_event_bytes: int,
) -> InboundEvent | Rejected:
    """Decode and check one record; each way it can be bad is a `Rejected` with the envelope's reason."""
    size = len(value or b"") + sum(len(name) + len(raw) for name, raw in headers)
    try:
        if size > max_event_bytes:
            raise EventTooLarge(f"record is {size} bytes; the limit is {max_event_bytes}")
        event = registry.check(decode_kafka(key, value, headers))
    except EventError as exc:
        return Rejected("decode", exc.reason, exc.message)
    return to_inbound(event)
