"""Children follow their parents, by event (invariant 7), on a real broker: each parent state and what it costs.

- refused by the processor (its refusal notice) or by the CRM on a first write: children dead-lettered at once,
  naming the parent, without a call;
- pending: children held, then written after the parent, no failed call;
- unknown: held while the processor's group has not processed what was published before the child, then sent;
- missing in the CRM and nowhere in the bridge: dead-lettered as soon as the upstream is drained, long before
  `parent_wait_s`.
"""

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bridge.config import ProcessorSettings, Settings
from bridge.processing.routing import Refusal, refusal_message
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.fakeorg import FakeOrg
from tests.sink.harness import account, opportunity, outcomes, produce, run_burst, sink_settings

pytestmark = pytest.mark.kafka


async def _produce_refusal(settings: Settings, external_id: str) -> None:
    notice = refusal_message(
        Refusal("Account", "External_Id__c", external_id, Lane.BULK, "validation_rule", "[{...}]"), settings.topics
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(notice.topic, notice.value, key=notice.key, headers=list(notice.headers))
    finally:
        await producer.stop()


async def test_children_of_a_parent_the_processor_refused_are_dead_lettered_without_a_call(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=2)
    await _produce_refusal(settings, "A-1")
    await produce(settings, [opportunity("O-1", "A-1"), account("A-2"), opportunity("O-2", "A-2")])
    org = FakeOrg()
    stats = await run_burst(settings, org)
    out = await outcomes(settings)
    assert sorted(out.written_ids) == ["A-2", "O-2"]
    (letter,) = out.dead
    assert letter.reason == "parent_refused"
    assert b'"external_id":"O-1"' in letter.payload  # the original write, for a replay after the parent's fix
    assert ("Opportunity", "O-1") not in org.sent  # no call was spent on it
    assert stats.parent_refused == 1
    assert stats.read == 3  # the notice is state, not an event: conservation counts the three writes


async def test_dead_letter_headers_name_the_refused_parent(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    await produce(settings, [account("A-1", name="BAD", first_write=True), opportunity("O-1", "A-1")])
    await run_burst(settings, FakeOrg())
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(settings.topics.dlq, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = (await consumer.getmany(tp, timeout_ms=5_000))[tp]
    finally:
        await consumer.stop()
    headers = {r.value and dict(r.headers).get("dlq_reason"): dict(r.headers) for r in records}
    child = headers[b"parent_refused"]
    assert child["dlq_parent"] == b"Account:A-1"
    assert child["dlq_parent_reason"] == b"FIELD_CUSTOM_VALIDATION_EXCEPTION"  # refused by the CRM, first write


async def test_a_refused_update_of_a_parent_already_in_the_org_lets_its_children_go(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    org = FakeOrg()
    org.records[("Account", "A-1")] = {"Id": "001000000000000001", "Name": "A-1"}  # written on an earlier night
    await produce(settings, [account("A-1", name="BAD"), opportunity("O-1", "A-1")])
    await run_burst(settings, org)
    out = await outcomes(settings)
    assert out.written_ids == ["O-1"]
    assert [d.reason for d in out.dead] == ["FIELD_CUSTOM_VALIDATION_EXCEPTION"]


async def test_a_pending_parent_is_written_first_and_no_call_fails(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=3)
    records = []
    for n in range(30):
        records += [account(f"A-{n}"), opportunity(f"O-{n}a", f"A-{n}"), opportunity(f"O-{n}b", f"A-{n}")]
    await produce(settings, records)
    org = FakeOrg()
    stats = await run_burst(settings, org)
    out = await outcomes(settings)
    assert len(out.written_ids) == 90
    assert out.dead == []
    assert stats.resent == 0  # no child reached Salesforce before its parent
    assert set(org.sent.values()) == {1}


async def _processor_group(settings: Settings, topic: str, *, commit: int) -> None:
    """Play the processor's group: commit `commit` offsets on partition 0 of its source topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=settings.processor.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: commit})
    finally:
        await consumer.stop()


async def _upstream(kafka_bootstrap: str, new_topic: NewTopicFactory, events: int) -> tuple[str, ProcessorSettings]:
    topic = await new_topic("domain", 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(events):
            await producer.send_and_wait(topic, b"{}", key=f"k{n}".encode())
    finally:
        await producer.stop()
    return topic, ProcessorSettings(app_id=f"processor-{uuid.uuid4().hex[:8]}", source_topics=(topic,))


async def test_a_child_of_an_unknown_parent_waits_while_the_processor_is_behind(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    topic, processor = await _upstream(kafka_bootstrap, new_topic, events=10)
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, processor=processor, parent_wait_s=120.0)
    await _processor_group(settings, topic, commit=4)  # 6 domain events not processed yet: the parent may be there
    await produce(settings, [opportunity("O-1", "A-1")])
    org = FakeOrg()
    run = asyncio.create_task(run_burst(settings, org, timeout_s=60.0))
    await asyncio.sleep(3.0)
    assert org.sent == {}  # held: nothing spent on a child whose parent may still come
    await produce(settings, [account("A-1")])  # what the processor makes of the rest: the parent
    await _processor_group(settings, topic, commit=10)
    await run
    out = await outcomes(settings)
    assert sorted(out.written_ids) == ["A-1", "O-1"]
    assert org.sent == {("Account", "A-1"): 1, ("Opportunity", "O-1"): 1}  # each once: no failed call


async def test_a_parent_nowhere_in_the_bridge_ends_the_wait_once_the_upstream_is_drained(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    topic, processor = await _upstream(kafka_bootstrap, new_topic, events=3)
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, processor=processor, parent_wait_s=600.0)
    await _processor_group(settings, topic, commit=3)  # the processor has done everything
    await produce(settings, [opportunity("O-1", "GONE-1")])
    org = FakeOrg()
    started = time.monotonic()
    await run_burst(settings, org, timeout_s=60.0)
    elapsed_s = time.monotonic() - started
    out = await outcomes(settings)
    assert [d.reason for d in out.dead] == ["parent_not_found"]
    assert elapsed_s < 30.0  # not the 600 s of parent_wait_s
    assert org.sent[("Opportunity", "O-1")] >= 1  # the CRM was asked: the parent could have been in the org


async def test_with_parent_wait_drained_off_the_wait_is_the_timer(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    topic, processor = await _upstream(kafka_bootstrap, new_topic, events=1)
    settings = await sink_settings(
        kafka_bootstrap, new_topic, partitions=1, processor=processor, parent_wait_s=4.0, parent_wait_drained=False
    )
    await _processor_group(settings, topic, commit=1)
    await produce(settings, [opportunity("O-1", "GONE-1")])
    started = time.monotonic()
    await run_burst(settings, FakeOrg(), timeout_s=60.0)
    assert time.monotonic() - started >= 4.0
    assert [d.reason for d in (await outcomes(settings)).dead] == ["parent_not_found"]
