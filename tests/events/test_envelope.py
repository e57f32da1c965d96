"""The envelope codecs: Kafka binary mode and structured JSON round-trip every event exactly."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import MalformedEvent
from bridge.events.envelope import (
    CloudEvent,
    decode_kafka,
    decode_structured,
    encode_kafka,
    encode_structured,
    parse_batch,
    parse_structured,
    to_structured,
)
from bridge.types import Lane

_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text
_json_leaf |= st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_reserved = {"id", "source", "type", "data", "specversion", "time", "subject", "datacontenttype"}
_reserved |= {"dataschema", "sobject", "externalid", "extidfield", "sequence", "lane", "partitionkey"}
_ext_name = st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(lambda n: n not in _reserved)

_events = st.builds(
    CloudEvent,
    id=_text,
    source=_text,
    type=_text,
    data=st.dictionaries(_text, _json, max_size=5),
    time=st.none() | _text,
    subject=st.none() | _text,
    datacontenttype=st.none() | st.just("application/json"),
    dataschema=st.none() | _text,
    sobject=st.none() | _text,
    externalid=st.none() | _text,
    extidfield=st.none() | _text,
    sequence=st.none() | st.integers(0, 2**63 - 1),
    lane=st.none() | st.sampled_from(Lane),
    partitionkey=st.none() | _text,
    extensions=st.dictionaries(_ext_name, _text, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(_events)
def test_kafka_binary_mode_round_trips_every_event(event: CloudEvent) -> None:
    record = encode_kafka(event)
    assert decode_kafka(record.key, record.value, record.headers) == event


@settings(max_examples=300, deadline=None)
@given(_events)
def test_structured_mode_round_trips_every_event(event: CloudEvent) -> None:
    assert parse_structured(encode_structured(event)) == event


def test_binary_mode_uses_ce_headers_content_type_and_the_partition_key_as_key() -> None:
    event = CloudEvent(
        id="e/1?%#'\"",
        source="erp://acme",
        type="t.x",
        data={"a": "ü"},
        sequence=7,
        lane=Lane.BULK,
        partitionkey="Account:C-1",
        sobject="Account",
        time="2026-01-01T00:00:00Z",
    )
    record = encode_kafka(event)
    headers = dict(record.headers)
    assert record.key == b"Account:C-1"
    assert orjson.loads(record.value or b"") == {"a": "ü"}
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"e/1?%#'\""
    assert headers["ce_sequence"] == b"7"
    assert headers["ce_lane"] == b"bulk"
    assert headers["content-type"] == b"application/json"
    assert "ce_partitionkey" not in headers
    assert "ce_datacontenttype" not in headers


def test_structured_mode_spells_sequence_as_an_integer_and_keeps_extensions() -> None:
    event = CloudEvent(id="1", source="s", type="t.x", sequence=3, extensions={"traceparent": "00-ab"})
    assert to_structured(event) == {
        "specversion": "1.0",
        "id": "1",
        "source": "s",
        "type": "t.x",
        "datacontenttype": "application/json",
        "sequence": 3,
        "traceparent": "00-ab",
    }


def test_structured_record_on_kafka_is_decoded_by_content_type() -> None:
    event = CloudEvent(id="1", source="s", type="t.x", data={"k": 1})
    body = encode_structured(event)
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    assert decode_kafka(None, body, headers) == event


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1], "JSON object"),
        ({"specversion": "0.3", "id": "1", "source": "s", "type": "t"}, "specversion"),
        ({"specversion": "1.0", "source": "s", "type": "t"}, "'id' is required"),
        ({"specversion": "1.0", "id": "", "source": "s", "type": "t"}, "'id' is required"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": 5}, "'type' is required"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": 1}, "'subject' must be"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "sequence": -1}, "sequence"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "sequence": True}, "sequence"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "lane": "fast"}, "lane"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "Bad-Name": "x"}, "attribute name"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "ext": [1]}, "extension attribute"),
        ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data_base64": "AA=="}, "data_base64"),
    ],
)
def test_malformed_structured_events_are_rejected_with_the_reason(obj: object, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        decode_structured(obj)


def test_sequence_and_boolean_extensions_accept_their_string_forms() -> None:
    event = decode_structured(
        {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "sequence": "42", "flag": True}
    )
    assert event.sequence == 42
    assert event.extensions == {"flag": "true"}


def test_invalid_json_and_non_array_batches_are_malformed() -> None:
    with pytest.raises(MalformedEvent, match="not valid JSON"):
        parse_structured(b"{not json")
    with pytest.raises(MalformedEvent, match="JSON array"):
        parse_batch(b"{}")
    assert parse_batch(b"[1, {}]") == [1, {}]


def test_unencodable_values_are_malformed_not_crashes() -> None:
    with pytest.raises(MalformedEvent, match="not valid UTF-8"):
        encode_kafka(CloudEvent(id="\ud800", source="s", type="t", data={}))
    with pytest.raises(MalformedEvent, match="cannot be encoded"):
        encode_kafka(CloudEvent(id="1", source="s", type="t", data={"n": 2**70}))
    with pytest.raises(MalformedEvent, match="not UTF-8"):
        decode_kafka(b"\xff", b"{}", [("ce_specversion", b"1.0")])
    with pytest.raises(MalformedEvent, match="not UTF-8"):
        decode_kafka(None, b"{}", [("ce_id", b"\xff")])
