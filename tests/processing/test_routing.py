"""Routing: lane topics keyed by `sobject:external_id`; DLQ records keep the original bytes and position."""

from __future__ import annotations

import orjson
import pytest

from bridge.config import TopicSettings
from bridge.processing.records import MappedRecord, Origin
from bridge.processing.routing import (
    DeadLetter,
    dead_letter_message,
    decode_dead_letter,
    decode_write,
    write_message,
)
from bridge.types import Lane

TOPICS = TopicSettings()


@pytest.mark.parametrize(("lane", "topic"), [(Lane.REALTIME, "crm.writes.realtime"), (Lane.BULK, "crm.writes.bulk")])
def test_writes_go_to_their_lane_keyed_by_record(lane: Lane, topic: str) -> None:
    record = MappedRecord("Account", "X__c", "C-1", {"Name": "A", "X__c": "C-1"}, lane, 3, ("e1", "e2"))
    out = write_message(record, TOPICS)
    assert out.topic == topic
    assert out.key == b"Account:C-1"
    assert decode_write(out.value) == record
    assert ("lane", lane.value.encode()) in out.headers


def test_dead_letters_round_trip_with_binary_payload_and_headers() -> None:
    letter = DeadLetter(
        stage="decode",
        reason="malformed",
        detail="not valid JSON",
        origin=Origin("domain.erp.customer", 2, 41),
        key=b"\xff\x00key",
        payload=b"\x00\x01 not json \xff",
        headers=(("ce_id", b"e1"), ("weird", b"\xfe")),
    )
    out = dead_letter_message(letter, TOPICS)
    assert out.topic == "crm.dlq"
    assert out.key == letter.key
    assert ("dlq_reason", b"malformed") in out.headers
    doc = orjson.loads(out.value)
    assert doc["origin"] == {"topic": "domain.erp.customer", "partition": 2, "offset": 41}
    assert decode_dead_letter(out.value) == letter


def test_detail_is_bounded_and_garbage_is_refused() -> None:
    letter = DeadLetter("map", "x", "d" * 10_000, Origin("t", 0, 0), None, b"", ())
    assert len(decode_dead_letter(dead_letter_message(letter, TOPICS).value).detail) == 2_000
    with pytest.raises(ValueError, match="not a DLQ record"):
        decode_dead_letter(b'{"stage": 1}')
