"""Debezium change events into the processor: envelopes as Debezium's documentation shows them for PostgreSQL,
MySQL and SQL Server, its logical types decoded, tombstones skipped, bad records dead-lettered with a reason."""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import orjson
import pytest

from bridge.config import TopicSettings
from bridge.events import SchemaRegistry
from bridge.processing.batch import BatchContext, InRecord, process_batch
from bridge.processing.debezium import Tombstone, decode_debezium, sequence_of
from bridge.processing.mapping import Mappings, parse_mappings
from bridge.processing.metadata import SObjectMeta
from bridge.processing.pipeline import Pipeline, Rejected
from bridge.processing.records import InboundEvent, MappedRecord, Origin
from bridge.processing.routing import decode_write
from bridge.processing.validation import Validator
from bridge.types import Operation, Outcome

TOPIC = "dbserver1.inventory.customers"

# The PostgreSQL connector's create event, with the JSON converter's schema (Debezium 3.x documentation,
# "PostgreSQL connector: create events"), trimmed to its columns and source fields; `created` and `balance`
# added with Debezium's MicroTimestamp and Decimal types, `since` with its Date type.
PG_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "fields": [
        {
            "type": "struct",
            "field": "before",
            "optional": True,
            "name": "PostgreSQL_server.inventory.customers.Value",
            "fields": [],
        },
        {
            "type": "struct",
            "field": "after",
            "optional": True,
            "name": "PostgreSQL_server.inventory.customers.Value",
            "fields": [
                {"type": "int32", "optional": False, "field": "id"},
                {"type": "string", "optional": False, "field": "first_name"},
                {"type": "string", "optional": False, "field": "email"},
                {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": "created"},
                {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": "since"},
                {
                    "type": "bytes",
                    "optional": True,
                    "name": "org.apache.kafka.connect.data.Decimal",
                    "parameters": {"scale": "2"},
                    "field": "balance",
                },
            ],
        },
    ],
    "optional": False,
    "name": "PostgreSQL_server.inventory.customers.Envelope",
}
PG_SOURCE = {
    "version": "3.6.1.Final",
    "connector": "postgresql",
    "name": "PostgreSQL_server",
    "ts_ms": 1559033904863,
    "snapshot": "false",
    "db": "postgres",
    "schema": "public",
    "table": "customers",
    "txId": 555,
    "lsn": 24023128,
}


def _pg(op: str, row: dict[str, Any] | None, *, lsn: int = 24023128, schema: bool = True) -> bytes:
    side = "before" if op == "d" else "after"
    payload = {"before": None, "after": None, side: row, "source": PG_SOURCE | {"lsn": lsn}, "op": op}
    payload["ts_ms"] = 1559033904863
    return orjson.dumps({"schema": PG_SCHEMA, "payload": payload} if schema else payload)


ROW = {
    "id": 1004,
    "first_name": "Anne",
    "email": "annek@noanswer.org",
    "created": 1_559_033_904_863_123,
    "since": 18_000,
    "balance": base64.b64encode((123456).to_bytes(3, "big", signed=True)).decode(),
}
KEY = b'{"id":1004}'


def test_a_postgresql_create_event_with_its_schema_decodes_its_types() -> None:
    event = decode_debezium(TOPIC, KEY, _pg("c", ROW))
    assert isinstance(event, InboundEvent)
    assert event.type == f"debezium:{TOPIC}"
    assert event.subject == "c"
    assert event.sequence == 24023128  # source.lsn
    assert event.data["created"] == "2019-05-28T08:58:24.863123Z"
    assert event.data["since"] == "2019-04-14"
    assert event.data["balance"] == 1234.56
    assert event.data["email"] == "annek@noanswer.org"
    again = decode_debezium(TOPIC, KEY, _pg("c", ROW))
    assert isinstance(again, InboundEvent)
    assert again.id == event.id  # the same change sent again (a connector restart) is a duplicate


def test_without_the_schema_values_stay_as_sent() -> None:
    event = decode_debezium(TOPIC, KEY, _pg("u", ROW, schema=False))
    assert isinstance(event, InboundEvent)
    assert event.data["since"] == 18_000


def test_a_delete_reads_the_before_row_and_its_tombstone_is_nothing() -> None:
    event = decode_debezium(TOPIC, KEY, _pg("d", {"id": 1004, "first_name": "Anne", "email": "x"}))
    assert isinstance(event, InboundEvent)
    assert event.subject == "d"
    assert event.data["id"] == 1004
    assert decode_debezium(TOPIC, KEY, None) == Tombstone(TOPIC)


def test_mysql_and_sql_server_positions_order_their_changes() -> None:
    # MySQL connector's update event source block (documentation: "MySQL connector: update events").
    mysql = {"connector": "mysql", "name": "mysql-server-1", "file": "mysql-bin.000003", "pos": 484, "row": 0}
    later = mysql | {"pos": 805}
    next_file = mysql | {"file": "mysql-bin.000004", "pos": 4}
    positions = [sequence_of(s, {}) for s in (mysql, later, next_file)]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    # SQL Server connector (documentation: "SQL Server connector: create events").
    sqlserver = {
        "connector": "sqlserver",
        "change_lsn": "00000025:00000d98:0002",
        "commit_lsn": "00000025:00000d98:0005",
    }
    after = sqlserver | {"change_lsn": "00000025:00000da0:0002"}
    assert sequence_of(sqlserver, {}) < sequence_of(after, {})  # type: ignore[operator]
    assert sequence_of({"connector": "oracle"}, {"ts_ms": 17}) == 17


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "malformed"),
        (b"[1]", "malformed"),
        (b'{"payload": {"op": "x"}}', "not_debezium"),
        (b'{"op": "c", "after": null, "source": {}}', "not_debezium"),
        (
            orjson.dumps({"schema": PG_SCHEMA, "payload": {"op": "c", "after": ROW | {"balance": "%%"}, "source": {}}}),
            "malformed",
        ),
    ],
    ids=["bytes", "array", "op", "no-row", "bad-decimal"],
)
def test_bad_records_are_rejected_with_a_reason(value: bytes, reason: str) -> None:
    rejected = decode_debezium(TOPIC, KEY, value)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason


def _mappings() -> Mappings:
    return parse_mappings(
        [
            {
                "debezium_topic": TOPIC,
                "sobject": "Account",
                "external_id_field": "ERP_Customer_Id__c",
                "external_id_from": "data.id",
                "fields": {"Name": {"from": "data.first_name", "transforms": ["trim"]}},
            }
        ]
    )


def test_a_debezium_mapping_versions_by_position_and_deletes_on_op_d() -> None:
    mappings = _mappings()
    assert mappings.debezium_topics == {TOPIC}
    created = decode_debezium(TOPIC, KEY, _pg("c", ROW, lsn=10))
    deleted = decode_debezium(TOPIC, KEY, _pg("d", ROW, lsn=20))
    assert isinstance(created, InboundEvent)
    assert isinstance(deleted, InboundEvent)
    upsert, delete = mappings.apply(created), mappings.apply(deleted)
    assert isinstance(upsert, MappedRecord)
    assert isinstance(delete, MappedRecord)
    assert (upsert.operation, upsert.version, upsert.external_id) == (Operation.UPSERT, 10, "1004")
    assert upsert.fields == {"Name": "Anne", "ERP_Customer_Id__c": "1004"}
    assert (delete.operation, delete.version) == (Operation.DELETE, 20)


def test_a_batch_of_a_debezium_topic_accounts_for_every_record(objects: dict[str, SObjectMeta]) -> None:
    context = BatchContext(Pipeline(_mappings(), Validator(objects)), SchemaRegistry.load(), TopicSettings(), 10_000)

    def record(offset: int, value: bytes | None) -> InRecord:
        return InRecord(Origin(TOPIC, 0, offset), KEY, value)

    records = [
        record(0, _pg("r", ROW, lsn=5)),  # the snapshot
        record(1, _pg("u", ROW | {"first_name": "Anne Marie"}, lsn=9)),
        record(2, _pg("c", ROW, lsn=5)),  # the snapshot's change sent again: a duplicate
        record(3, _pg("d", ROW, lsn=12)),
        record(4, None),  # the delete's tombstone
        record(5, b"garbage"),
        record(6, _pg("u", ROW, lsn=11)),  # older than the delete
    ]
    result = process_batch(records, context, lambda key: None)
    tally = Counter((a.outcome, a.reason) for a in result.accounted)
    assert tally == Counter(
        {
            (Outcome.WRITTEN, None): 1,
            (Outcome.SKIPPED, "coalesced"): 2,
            (Outcome.SKIPPED, "duplicate"): 1,
            (Outcome.SKIPPED, "tombstone"): 1,
            (Outcome.SKIPPED, "stale"): 1,
            (Outcome.DEAD_LETTERED, "malformed"): 1,
        }
    )
    (write,) = [decode_write(o.value) for o in result.outbound if o.topic != "crm.dlq"]
    assert (write.operation, write.version) == (Operation.DELETE, 12)
