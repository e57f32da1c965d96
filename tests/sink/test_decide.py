"""Retry decisions: backoff within bounds, attempts exhausted to the DLQ, parents waited for, limits paused."""

import random

import orjson

from bridge.config import SinkSettings, TopicSettings
from bridge.processing.routing import decode_dead_letter
from bridge.sink.backoff import Backoff
from bridge.sink.decide import Decider, Deliver, Resend
from bridge.sink.outcomes import Failure, FailureKind, Written
from bridge.types import Outcome
from tests.sink.factories import item

_SETTINGS = SinkSettings(max_attempts=3, backoff_base_s=1.0, backoff_max_s=8.0, parent_wait_s=100.0)


def _decider() -> Decider:
    return Decider(_SETTINGS, TopicSettings(), Backoff(1.0, 8.0, random.Random(7)))


def test_written_goes_to_results_with_the_salesforce_id() -> None:
    decision = _decider().decide(item("A-1", offset=4), Written("001X", created=True), now_s=0.0, batch_size=1)
    assert isinstance(decision, Deliver)
    assert decision.accounted is Outcome.WRITTEN
    doc = orjson.loads(decision.message.value)
    assert (doc["id"], doc["created"], doc["external_id"], doc["origin"]["offset"]) == ("001X", True, "A-1", 4)
    assert decision.message.topic == "crm.results"


def test_transient_failures_back_off_then_dead_letter_after_max_attempts() -> None:
    decider = _decider()
    record = item("A-1")
    failure = Failure(FailureKind.TRANSIENT, "UNABLE_TO_LOCK_ROW", "locked")
    first = decider.decide(record, failure, now_s=10.0, batch_size=5)
    second = decider.decide(record, failure, now_s=20.0, batch_size=5)
    assert isinstance(first, Resend)
    assert 10.0 <= first.not_before_s <= 11.0
    assert isinstance(second, Resend)
    assert 20.0 <= second.not_before_s <= 22.0
    third = decider.decide(record, failure, now_s=30.0, batch_size=5)
    assert isinstance(third, Deliver)
    letter = decode_dead_letter(third.message.value)
    assert letter.reason == "UNABLE_TO_LOCK_ROW"
    assert orjson.loads(letter.detail) == {"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}


def test_retry_after_is_respected() -> None:
    failure = Failure(FailureKind.TRANSIENT, "SERVER_UNAVAILABLE", "busy", retry_after_s=30.0)
    decision = _decider().decide(item("A-1"), failure, now_s=0.0, batch_size=1)
    assert isinstance(decision, Resend)
    assert decision.not_before_s == 30.0


def test_missing_parent_waits_without_using_attempts_until_parent_wait_s() -> None:
    decider = _decider()
    record = item("O-1", sobject="Opportunity")
    failure = Failure(FailureKind.PARENT_MISSING, "INVALID_FIELD", "Foreign key external ID: A-1 not found")
    for now_s in (0.0, 10.0, 50.0, 99.0):
        assert isinstance(decider.decide(record, failure, now_s=now_s, batch_size=1), Resend)
    assert record.attempts == 0
    final = decider.decide(record, failure, now_s=100.0, batch_size=1)
    assert isinstance(final, Deliver)
    assert final.reason == "parent_not_found"


def test_rolled_back_and_cpu_go_back_at_once_limit_waits() -> None:
    decider = _decider()
    rolled = decider.decide(item("A"), Failure(FailureKind.ROLLED_BACK, "X", ""), now_s=5.0, batch_size=9)
    cpu = decider.decide(item("B"), Failure(FailureKind.CPU_LIMIT, "X", "cpu"), now_s=5.0, batch_size=9)
    limit = decider.decide(item("C"), Failure(FailureKind.LIMIT_EXCEEDED, "REQUEST_LIMIT_EXCEEDED", ""), 5.0, 9)
    assert isinstance(rolled, Resend)
    assert rolled.not_before_s == 5.0
    assert isinstance(cpu, Resend)
    assert cpu.not_before_s == 5.0
    assert isinstance(limit, Resend)
    assert limit.not_before_s == 65.0


def test_permanent_failures_are_dead_lettered_with_the_original_event() -> None:
    record = item("A-1")
    failure = Failure(FailureKind.PERMANENT, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "bad name", ("Name",))
    decision = _decider().decide(record, failure, now_s=0.0, batch_size=1)
    assert isinstance(decision, Deliver)
    letter = decode_dead_letter(decision.message.value)
    assert letter.stage == "sink"
    assert letter.payload == record.value
    assert letter.origin.topic == record.topic
    assert orjson.loads(letter.detail)["fields"] == ["Name"]
