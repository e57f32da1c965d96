"""Deletes through the processor core: recognised by event type or operation field, soft or ignored, and kept in
version order by the tombstone in the dedupe state (a late upsert never resurrects a deleted record)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bridge.config import TopicSettings
from bridge.errors import ConfigError
from bridge.events import CloudEvent, SchemaRegistry, encode_kafka
from bridge.processing.batch import BatchContext, InRecord, process_batch
from bridge.processing.dedupe import KeyState, coalesce, decode_state, encode_state
from bridge.processing.mapping import Mappings, parse_mappings
from bridge.processing.metadata import SObjectMeta
from bridge.processing.pipeline import Pipeline, Skipped, Write
from bridge.processing.records import InboundEvent, MappedRecord, Origin
from bridge.processing.routing import decode_write, decode_write_topic, write_message
from bridge.processing.validation import Validator
from bridge.types import Lane, Operation, Outcome, SkipReason
from tests.processing.conftest import customer


def deleted(customer_id: str = "C-1", version: int = 2, event_id: str = "x-1") -> InboundEvent:
    data = {"customer_id": customer_id, "version": version}
    return InboundEvent(id=event_id, type="com.acme.crm.customer.deleted", source="erp://test", data=data)


def _pipeline(objects: dict[str, SObjectMeta], mappings: Mappings) -> Pipeline:
    return Pipeline(mappings, Validator(objects))


def _run(pipeline: Pipeline, events: list[InboundEvent]) -> list[Write | Skipped]:
    states: dict[str, KeyState] = {}
    decisions: list[Write | Skipped] = []
    for event in events:
        decision = pipeline.process(event, states)
        assert isinstance(decision, Write | Skipped), decision
        decisions.append(decision)
        key = decision.record.key if isinstance(decision, Write) else decision.key
        states[key] = decision.state
    return decisions


def test_a_delete_event_type_maps_to_a_delete_without_fields(mappings: Mappings) -> None:
    record = mappings.apply(deleted())
    assert isinstance(record, MappedRecord)
    assert record.operation is Operation.DELETE
    assert record.fields == {}
    assert (record.key, record.version, record.lane) == ("Account:C-1", 2, Lane.REALTIME)


def test_a_late_older_upsert_does_not_resurrect_and_a_newer_one_recreates(
    objects: dict[str, SObjectMeta], mappings: Mappings
) -> None:
    decisions = _run(
        _pipeline(objects, mappings),
        [
            customer(version=1, event_id="u1"),
            deleted(version=3, event_id="d3"),
            customer(version=2, event_id="u2"),  # older than the delete: stale
            customer(version=3, event_id="u3"),  # the delete's own version: stale too
            deleted(version=4, event_id="d4"),  # already deleted
            customer(version=5, event_id="u5", name="Acme again"),  # re-created at the source
        ],
    )
    kinds = [d.record.operation.value if isinstance(d, Write) else d.reason.value for d in decisions]
    assert kinds == ["upsert", "delete", "stale", "stale", "unchanged", "upsert"]
    tombstone = decisions[1].state
    assert tombstone.deleted
    assert tombstone.fields == {}
    assert tombstone.version == 3
    recreated = decisions[5]
    assert isinstance(recreated, Write)
    assert recreated.record.first_write
    assert recreated.record.fields["Name"] == "Acme again"
    assert not recreated.state.deleted


def test_a_delete_of_a_record_never_written_is_sent(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    # The record may be in the org from before the bridge: the sink finds out, by external ID.
    (decision,) = _run(_pipeline(objects, mappings), [deleted(version=1)])
    assert isinstance(decision, Write)
    assert decision.record.is_delete
    assert decision.record.first_write


def test_the_tombstone_survives_the_changelog() -> None:
    tombstone = KeyState(7, None, ("d",), {}, "Account:C-1", deleted=True)
    assert decode_state(encode_state(tombstone)) == tombstone
    legacy = b'{"f":1,"v":1,"h":"ab","e":["e"],"d":{},"r":null}'
    restored = decode_state(legacy)
    assert restored is not None
    assert not restored.deleted


def _mapping(**delete: Any) -> Mappings:
    return parse_mappings(
        [
            {
                "event_type": "erp.customer.changed",
                "sobject": "Account",
                "external_id_field": "ERP_Customer_Id__c",
                "external_id_from": "data.customer_id",
                "version_from": "data.version",
                "delete": {"when_from": "data.op", **delete},
                "fields": {"Name": {"from": "data.name"}},
            }
        ]
    )


def _changed(op: str, version: int = 1) -> InboundEvent:
    data = {"customer_id": "C-9", "version": version, "op": op, "name": "N"}
    return InboundEvent(id=f"{op}{version}", type="erp.customer.changed", source="s", data=data)


def test_an_operation_field_says_which_events_delete() -> None:
    mappings = _mapping(when_values=["D"])
    upsert, delete = mappings.apply(_changed("U")), mappings.apply(_changed("D"))
    assert isinstance(upsert, MappedRecord)
    assert isinstance(delete, MappedRecord)
    assert (upsert.operation, delete.operation) == (Operation.UPSERT, Operation.DELETE)
    assert upsert.fields == {"Name": "N", "ERP_Customer_Id__c": "C-9"}


def test_a_soft_delete_upserts_its_fields(objects: dict[str, SObjectMeta]) -> None:
    mappings = _mapping(action="soft", soft_fields={"Description": {"const": "deleted in the ERP"}})
    record = mappings.apply(_changed("d"))
    assert isinstance(record, MappedRecord)
    assert record.operation is Operation.UPSERT
    assert record.fields == {"Description": "deleted in the ERP", "ERP_Customer_Id__c": "C-9"}


def test_an_ignored_delete_is_skipped_and_counted(objects: dict[str, SObjectMeta]) -> None:
    pipeline = Pipeline(_mapping(action="ignore"), Validator(objects))
    decision = pipeline.process(_changed("d"), {})
    assert isinstance(decision, Skipped)
    assert decision.reason is SkipReason.IGNORED
    assert "ignored" in decision.detail


@pytest.mark.parametrize(
    "delete",
    [{"action": "soft"}, {"action": "purge"}],
    ids=["soft-without-fields", "unknown-action"],
)
def test_bad_delete_settings_fail_at_load(delete: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="invalid mapping"):
        _mapping(**delete)


def test_a_delete_travels_on_the_write_topic() -> None:
    record = MappedRecord("Account", "X__c", "C-1", {}, Lane.BULK, 4, ("d",), operation=Operation.DELETE)
    message = write_message(record, TopicSettings())
    assert ("operation", b"delete") in message.headers
    assert decode_write(message.value) == record
    upsert = (
        b'{"sobject":"A","external_id_field":"X","external_id":"1","fields":{},"lane":"bulk","version":1,'
        b'"event_ids":[]}'
    )
    assert decode_write(upsert).operation is Operation.UPSERT  # written before deletes existed
    with pytest.raises(ValueError, match="ignore"):
        decode_write_topic(upsert.replace(b'"version"', b'"operation":"ignore","version"'))


def test_coalescing_keeps_the_later_operation() -> None:
    upsert = MappedRecord("Account", "X__c", "C-1", {"Name": "A"}, Lane.BULK, 1, ("u1",))
    delete = MappedRecord("Account", "X__c", "C-1", {}, Lane.REALTIME, 2, ("d2",), operation=Operation.DELETE)
    again = MappedRecord("Account", "X__c", "C-1", {"Phone": "1"}, Lane.BULK, 3, ("u3",), first_write=True)
    (merged,), folded = coalesce([upsert, delete])
    assert (merged.operation, merged.fields, merged.version, merged.lane) == (Operation.DELETE, {}, 2, Lane.REALTIME)
    assert merged.event_ids == ("u1", "d2")
    assert folded == 1
    (recreated,), _ = coalesce([upsert, delete, again])
    assert recreated.operation is Operation.UPSERT
    assert recreated.fields == {"Phone": "1"}  # not the fields from before the delete
    assert recreated.first_write


def _kafka(event: CloudEvent, offset: int) -> InRecord:
    record = encode_kafka(event)
    return InRecord(Origin("domain.erp.customer", 0, offset), record.key, record.value, tuple(record.headers))


def test_a_batch_accounts_for_deletes_and_writes_them_last(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    def event(kind: str, customer_id: str, version: int, **data: Any) -> CloudEvent:
        payload = {"customer_id": customer_id, "version": version, **data}
        return CloudEvent(
            id=f"{customer_id}{kind}{version}", source="s", type=f"com.acme.crm.customer.{kind}", data=payload
        )

    records = [
        _kafka(event("deleted", "A", 2), 0),
        _kafka(event("upserted", "B", 1, name="B"), 1),
        _kafka(event("upserted", "A", 1, name="A"), 2),  # older than the delete just before it
        _kafka(event("deleted", "C", 1, extra="x"), 3),  # not in the schema
    ]
    context = BatchContext(_pipeline(objects, mappings), SchemaRegistry.load(), TopicSettings(), 10_000)
    result = process_batch(records, context, lambda key: None)
    tally = Counter((a.outcome, a.reason) for a in result.accounted)
    assert tally == Counter(
        {(Outcome.WRITTEN, None): 2, (Outcome.SKIPPED, "stale"): 1, (Outcome.DEAD_LETTERED, "schema_violation"): 1}
    )
    writes = [decode_write(o.value) for o in result.outbound if o.topic != "crm.dlq"]
    assert [(w.external_id, w.operation) for w in writes] == [("B", Operation.UPSERT), ("A", Operation.DELETE)]
