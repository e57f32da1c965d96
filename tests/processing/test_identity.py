"""Invariant 8: the producer the ingest verified (`ce_authid`) travels to the writes, the DLQ and the results."""

from __future__ import annotations

from bridge.config import TopicSettings
from bridge.events import CloudEvent, SchemaRegistry, encode_kafka
from bridge.processing.batch import BatchContext, InRecord, process_batch
from bridge.processing.mapping import Mappings
from bridge.processing.metadata import SObjectMeta
from bridge.processing.pipeline import Pipeline
from bridge.processing.records import Origin
from bridge.processing.routing import decode_dead_letter, decode_write
from bridge.processing.validation import Validator
from bridge.sink.items import WriteItem
from bridge.sink.messages import failure_message, result_message
from bridge.sink.outcomes import Failure, FailureKind, Written

TOPICS = TopicSettings()


def _record(offset: int, customer_id: str, version: int, authid: str | None, **data: object) -> InRecord:
    extensions = {"authtype": "api_key", "authid": authid} if authid else {}
    event = CloudEvent(
        id=f"{customer_id}-{version}",
        source="erp://acme",
        type="com.acme.crm.customer.upserted",
        data={"customer_id": customer_id, "version": version, "name": f"N{version}", **data},
        extensions=extensions,
    )
    record = encode_kafka(event)
    return InRecord(Origin("domain.erp.customer", 0, offset), record.key, record.value, tuple(record.headers))


def _context(objects: dict[str, SObjectMeta], mappings: Mappings) -> BatchContext:
    return BatchContext(Pipeline(mappings, Validator(objects)), SchemaRegistry.load(), TOPICS, 10_000)


def test_writes_name_their_producers_also_when_coalesced_and_dead_letters_keep_the_header(
    objects: dict[str, SObjectMeta], mappings: Mappings
) -> None:
    records = [
        _record(0, "A", 1, "ERP"),
        _record(1, "A", 2, "BILLING"),  # coalesced with the first: both producers are named
        _record(2, "A", 3, "ERP"),
        _record(3, "B", 1, None),  # published to Kafka directly: no verified identity
        _record(4, "C", -1, "ERP"),  # refused by its schema
    ]
    result = process_batch(records, _context(objects, mappings), lambda key: None)
    writes = {decode_write(o.value).external_id: o for o in result.outbound if o.topic != TOPICS.dlq}
    assert decode_write(writes["A"].value).authids == ("ERP", "BILLING")
    assert [v for n, v in writes["A"].headers if n == "ce_authid"] == [b"ERP", b"BILLING"]
    assert decode_write(writes["B"].value).authids == ()
    assert not [n for n, _ in writes["B"].headers if n == "ce_authid"]
    [letter] = [decode_dead_letter(o.value) for o in result.outbound if o.topic == TOPICS.dlq]
    assert (letter.reason, dict(letter.headers)["ce_authid"]) == ("schema_violation", b"ERP")


def test_a_write_from_before_identities_decodes_without_any() -> None:
    legacy = (
        b'{"sobject":"Account","external_id_field":"X__c","external_id":"A","fields":{},"lane":"bulk",'
        b'"version":1,"event_ids":["e"]}'
    )
    assert decode_write(legacy).authids == ()


def test_results_and_sink_dead_letters_name_the_producers(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    [write] = process_batch([_record(0, "A", 1, "ERP")], _context(objects, mappings), lambda key: None).outbound
    record = decode_write(write.value)
    item = WriteItem(write.topic, 0, 7, record, write.key, write.value, write.headers, 0.0)
    result = result_message(item, Written("001000000000001AAA", created=True), TOPICS)
    assert b'"authids":["ERP"]' in result.value
    assert ("ce_authid", b"ERP") in result.headers
    failure = failure_message(item, Failure(FailureKind.PERMANENT, "INVALID_FIELD", "no"), TOPICS)
    assert dict(decode_dead_letter(failure.value).headers)["ce_authid"] == b"ERP"
