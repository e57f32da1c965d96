"""A batch through intake and pipeline: every record accounted for once; writes coalesced per key."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bridge.config import TopicSettings
from bridge.events import CloudEvent, SchemaRegistry, encode_kafka
from bridge.processing.batch import BatchContext, InRecord, process_batch
from bridge.processing.dedupe import KeyState, decode_state, encode_state
from bridge.processing.mapping import Mappings
from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta
from bridge.processing.pipeline import Pipeline
from bridge.processing.records import Origin
from bridge.processing.routing import REPLAY_HEADER, decode_dead_letter, decode_write
from bridge.processing.validation import CompiledRule, NotEvaluablePolicy, RuleNotEvaluable, Validator
from bridge.types import Outcome


def _record(offset: int, customer_id: str, version: int, event_id: str | None = None) -> InRecord:
    event = CloudEvent(
        id=event_id or f"{customer_id}-{version}",
        source="s",
        type="com.acme.crm.customer.upserted",
        data={"customer_id": customer_id, "version": version, "name": f"N{version}"},
    )
    record = encode_kafka(event)
    return InRecord(Origin("domain.erp.customer", 0, offset), record.key, record.value, tuple(record.headers))


def _context(objects: dict[str, SObjectMeta], mappings: Mappings) -> BatchContext:
    return BatchContext(Pipeline(mappings, Validator(objects)), SchemaRegistry.load(), TopicSettings(), 10_000)


def test_batch_accounts_for_every_record(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    records = [
        _record(0, "A", 1),
        _record(1, "A", 2),
        _record(2, "B", 1),
        _record(3, "A", 2),  # redelivered within the batch
        _record(4, "A", 3),
        _record(5, "B", 0),  # stale
        InRecord(Origin("domain.erp.customer", 0, 6), None, b"garbage", ()),
        InRecord(Origin("domain.erp.customer", 0, 7), None, b"x" * 20_000, ()),
    ]
    result = process_batch(records, _context(objects, mappings), lambda key: None)
    tally = Counter((a.outcome, a.reason) for a in result.accounted)
    assert tally == Counter(
        {
            (Outcome.WRITTEN, None): 2,
            (Outcome.SKIPPED, "coalesced"): 2,
            (Outcome.SKIPPED, "duplicate"): 1,
            (Outcome.SKIPPED, "stale"): 1,
            (Outcome.DEAD_LETTERED, "malformed"): 1,
            (Outcome.DEAD_LETTERED, "too_large"): 1,
        }
    )
    assert len(result.accounted) == len(records)
    writes = {decode_write(o.value).external_id: decode_write(o.value) for o in result.outbound if o.topic != "crm.dlq"}
    assert writes["A"].version == 3
    assert writes["A"].event_ids == ("A-1", "A-2", "A-3")
    letters = [decode_dead_letter(o.value) for o in result.outbound if o.topic == "crm.dlq"]
    assert [(letter.reason, letter.origin.offset) for letter in letters] == [("malformed", 6), ("too_large", 7)]
    assert result.states["Account:A"][1].version == 3


def test_batch_reads_stored_state(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    stored = {"Account:A": KeyState(version=9)}
    result = process_batch([_record(0, "A", 3)], _context(objects, mappings), stored.get)
    assert [(a.outcome, a.reason) for a in result.accounted] == [(Outcome.SKIPPED, "stale")]
    assert result.outbound == []


def test_a_dead_lettered_event_delivered_again_is_not_dead_lettered_twice(
    objects: dict[str, SObjectMeta], mappings: Mappings
) -> None:
    """Found by the chaos run: an invalid event the source system redelivered (or a record read again after a
    crash, before its offset was committed) was dead-lettered a second time (7 letters twice)."""
    strict = Validator(objects, {"Account": (CompiledRule(_RULE, frozenset(), _not_evaluable),)})
    context = BatchContext(
        Pipeline(mappings, strict, policy=NotEvaluablePolicy.REJECT), SchemaRegistry.load(), TopicSettings(), 10_000
    )
    first = process_batch([_record(0, "A", 1, event_id="A-bad")], context, lambda key: None)
    assert [(a.outcome, a.stage) for a in first.accounted] == [(Outcome.DEAD_LETTERED, "validate")]
    stored = {key: state for key, (_, state) in first.states.items()}
    assert stored["Account:A"].refused == ("A-bad",)
    assert stored["Account:A"].content_hash is None  # still never applied
    assert decode_state(encode_state(stored["Account:A"])) == stored["Account:A"]
    for again in (_record(0, "A", 1, event_id="A-bad"), _record(5, "A", 1, event_id="A-bad")):
        result = process_batch([again], context, stored.get)
        assert [(a.outcome, a.reason) for a in result.accounted] == [(Outcome.SKIPPED, "duplicate")]
        assert result.outbound == []
    # `crm-bridge dlq replay` marks what it sends back: after a fix, the same event goes through.
    replay = _record(9, "A", 1, event_id="A-bad")
    replay = dataclasses.replace(replay, headers=(*replay.headers, (REPLAY_HEADER, b"crm.dlq:0:0")))
    replayed = process_batch([replay], _context(objects, mappings), stored.get)
    assert [a.outcome for a in replayed.accounted] == [Outcome.WRITTEN]


_RULE = ValidationRuleMeta("Exotic", "Account", True, "VLOOKUP(...)", "no")


def _not_evaluable(record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool) -> bool:
    raise RuleNotEvaluable("VLOOKUP is not supported")


def test_writes_carry_the_ingest_time_of_their_earliest_event(
    objects: dict[str, SObjectMeta], mappings: Mappings
) -> None:
    # The sink's bridge_realtime_latency_seconds runs from this broker timestamp to Salesforce's answer.
    a1, a2, b1 = _record(0, "A", 1), _record(1, "A", 2), _record(2, "B", 1)
    records = [
        dataclasses.replace(a1, timestamp_ms=1_000),
        dataclasses.replace(a2, timestamp_ms=1_500),  # coalesced with A-1: the earlier time is the one waited
        b1,  # no timestamp known
    ]
    result = process_batch(records, _context(objects, mappings), lambda key: None)
    writes = {decode_write(o.value).external_id: decode_write(o.value) for o in result.outbound}
    assert writes["A"].ingested_ms == 1_000
    assert writes["B"].ingested_ms is None
