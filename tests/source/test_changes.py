"""Change events: decoded from Avro with bitmaps, echo tagging, and the CloudEvent round trip on Kafka."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest

from bridge.errors import MalformedEvent
from bridge.events.envelope import encode_kafka
from bridge.pubsub.avro import change_event_schema, decode_payload, encode_payload, schema_id_of
from bridge.pubsub.bitmaps import encode_bitmap
from bridge.source.changes import decode_change_record, from_payload, is_echo_origin, to_cloud_event
from bridge.source.channels import entity_of_channel, kafka_topic
from bridge.source.checkpoint import Checkpoint

FIELDS = [
    ("Name", "string"),
    ("AnnualRevenue", "currency"),
    ("Phone", "phone"),
    ("LastModifiedDate", "datetime"),
]


def header(change_type: str, changed: list[str], nulled: list[str], origin: str) -> dict[str, Any]:
    schema = change_event_schema("Account", FIELDS)
    return {
        "entityName": "Account",
        "recordIds": ["001000000000001AAA"],
        "changeType": change_type,
        "changeOrigin": origin,
        "transactionKey": "tx-1",
        "sequenceNumber": 2,
        "commitTimestamp": 1_700_000_000_000,
        "commitNumber": 42,
        "commitUser": "005000000000001AAA",
        "nulledFields": encode_bitmap(schema, nulled),
        "diffFields": [],
        "changedFields": encode_bitmap(schema, changed),
    }


def roundtrip(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = change_event_schema("Account", FIELDS)
    parsed = fastavro.parse_schema(schema)
    return schema, decode_payload(parsed, encode_payload(parsed, record))


def test_update_keeps_only_changed_and_nulled_fields() -> None:
    origin = "com/salesforce/api/rest/62.0;client=crm-bridge"
    schema, decoded = roundtrip(
        {
            "ChangeEventHeader": header("UPDATE", ["Name", "Phone", "LastModifiedDate"], ["Phone"], origin),
            "Name": "Acme",
            "LastModifiedDate": 1_700_000_000_000,
        }
    )
    event = from_payload(schema, decoded, replay_id="00ff", channel="/data/ChangeEvents", client_id="crm-bridge")
    assert event.fields == {"Name": "Acme", "Phone": None, "LastModifiedDate": 1_700_000_000_000}
    assert event.nulled_fields == ("Phone",)
    assert event.is_echo is True
    assert event.event_id == "tx-1:2"


def test_create_keeps_set_fields() -> None:
    schema, decoded = roundtrip(
        {"ChangeEventHeader": header("CREATE", [], [], ""), "Name": "Acme", "AnnualRevenue": 12.5}
    )
    event = from_payload(schema, decoded, replay_id="01", channel="/data/AccountChangeEvent", client_id="crm-bridge")
    assert event.fields == {"Name": "Acme", "AnnualRevenue": 12.5}
    assert event.is_echo is False


@pytest.mark.parametrize(
    ("origin", "echo"),
    [
        ("com/salesforce/api/rest/62.0;client=crm-bridge", True),
        ("com/salesforce/api/soap/62.0;client=crm-bridge-2", False),
        ("com/salesforce/api/rest/62.0;client=other", False),
        ("", False),
        ("client=crm-bridge", True),
    ],
)
def test_echo_needs_our_exact_client_id(origin: str, echo: bool) -> None:
    assert is_echo_origin(origin, "crm-bridge") is echo


def test_cloud_event_round_trip_through_kafka_headers() -> None:
    schema, decoded = roundtrip({"ChangeEventHeader": header("UPDATE", ["Name"], [], "client=crm-bridge")})
    event = from_payload(schema, decoded, replay_id="0a0b", channel="/data/ChangeEvents", client_id="crm-bridge")
    record = encode_kafka(to_cloud_event(event, source="salesforce:pubsub/data/ChangeEvents"))
    assert record.key == b"001000000000001AAA"
    back = decode_change_record(record.key, record.value, record.headers)
    assert back == event


def test_a_foreign_record_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        decode_change_record(None, b"not json", [])


def test_channels_map_to_topics() -> None:
    assert entity_of_channel("/data/AccountChangeEvent") == "Account"
    assert entity_of_channel("/data/Invoice__ChangeEvent") == "Invoice__c"
    assert entity_of_channel("/data/ChangeEvents") is None
    assert entity_of_channel("/event/Order_Shipped__e") is None
    topic = kafka_topic("/event/Order_Shipped__e", None, cdc_prefix="crm.cdc.", events_prefix="crm.events.")
    assert topic == "crm.events.Order_Shipped__e"
    assert kafka_topic("/data/ChangeEvents", "Account", cdc_prefix="crm.cdc.", events_prefix="e.") == "crm.cdc.Account"


def test_checkpoint_record_round_trips_and_rejects_garbage() -> None:
    checkpoint = Checkpoint("/data/ChangeEvents", bytes.fromhex("00000000000000ff"), 1_700_000_000_000)
    assert Checkpoint.decode(*checkpoint.encode()) == checkpoint
    with pytest.raises(MalformedEvent):
        Checkpoint.decode(b"x", b"{}")


def test_schema_ids_are_stable_and_distinct() -> None:
    a = change_event_schema("Account", FIELDS)
    b = change_event_schema("Account", [*FIELDS, ("Website", "url")])
    assert schema_id_of(a) == schema_id_of(change_event_schema("Account", FIELDS))
    assert schema_id_of(a) != schema_id_of(b)
