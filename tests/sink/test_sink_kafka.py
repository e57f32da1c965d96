"""The sink on a real broker with the fake org: conservation, isolation, ordering, retries, CPU, commits."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from bridge.metrics import Metrics
from bridge.sink.runner import build_gate, run_sink
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.fakeorg import FakeOrg
from tests.sink.harness import account, committed, opportunity, outcomes, produce, run_burst, sink_settings

pytestmark = pytest.mark.kafka


async def test_conservation_written_plus_dead_lettered_equals_input(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic)
    records = [account(f"A-{n}", name="BAD" if n % 100 == 7 else None) for n in range(300)]
    records += [account(f"R-{n}", lane=Lane.REALTIME) for n in range(20)]
    await produce(settings, records)
    org = FakeOrg()
    stats = await run_burst(settings, org)
    out = await outcomes(settings)
    assert len(out.results) + len(out.dead) == 320
    assert sorted(d.reason for d in out.dead) == ["FIELD_CUSTOM_VALIDATION_EXCEPTION"] * 3
    assert all(d.stage == "sink" and b'"Name":"BAD"' in d.payload for d in out.dead)
    assert len(set(out.written_ids)) == 317
    assert set(org.writes.values()) == {1}
    assert stats.written == 317
    assert stats.dead_lettered == 3
    assert await committed(settings) == {settings.topics.bulk: 300, settings.topics.realtime: 20}
    assert org.calls["collections"] <= 2 + 3 * 2 + 4  # 300 bulk in ≤200s, 20 realtime, one resend per bad batch


async def test_a_child_whose_parent_never_appears_is_dead_lettered_after_parent_wait_s(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, parent_wait_s=1.0)
    await produce(settings, [opportunity("O-1", "A-1")])
    org = FakeOrg()
    await run_burst(settings, org)
    out = await outcomes(settings)
    assert out.written_ids == []
    assert [d.reason for d in out.dead] == ["parent_not_found"]


async def test_parent_arriving_after_the_child_is_written_first(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, parent_wait_s=30.0)
    await produce(settings, [opportunity("O-1", "A-1"), opportunity("O-2", "A-2"), account("A-1"), account("A-2")])
    org = FakeOrg()
    await run_burst(settings, org)
    out = await outcomes(settings)
    assert sorted(out.written_ids) == ["A-1", "A-2", "O-1", "O-2"]
    assert out.dead == []
    assert org.records[("Opportunity", "O-1")]["Account"] == {"External_Id__c": "A-1"}


async def test_transient_failures_are_retried_and_a_replayed_write_stays_one_record(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, batch_size=10)
    await produce(settings, [account(f"A-{n}") for n in range(40)])
    org = FakeOrg(faults=["lock", "503", "drop_after_apply", "503"])
    metrics = Metrics.create(CollectorRegistry())
    await run_burst(settings, org, metrics)
    out = await outcomes(settings)
    assert sorted(set(out.written_ids)) == sorted(f"A-{n}" for n in range(40))
    assert out.dead == []
    assert len(org.records) == 40
    assert max(org.writes.values()) == 2  # the dropped connection: applied, retried, still one record
    retries = metrics.registry.get_sample_value("bridge_retries_total", {"component": "sink", "reason": "transient"})
    assert retries is not None
    assert retries >= 10


async def test_apex_cpu_errors_shrink_batches_and_lose_nothing(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    await produce(settings, [account(f"A-{n}") for n in range(300)])
    org = FakeOrg(cpu_max_records=60)
    metrics = Metrics.create(CollectorRegistry())
    await run_burst(settings, org, metrics)
    out = await outcomes(settings)
    assert len(set(out.written_ids)) == 300
    assert out.dead == []
    assert max(org.batch_sizes[-3:]) <= 60
    cpu = metrics.registry.get_sample_value("bridge_salesforce_trigger_cpu_errors_total", {"sobject": "Account"})
    assert cpu is not None
    assert cpu >= 1


async def test_a_large_bulk_backlog_goes_as_a_bulk_job(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, bulk_threshold_records=100)
    await produce(settings, [account(f"A-{n}") for n in range(500)])
    org = FakeOrg()
    await run_burst(settings, org)
    out = await outcomes(settings)
    assert len(set(out.written_ids)) == 500
    assert org.calls["bulk"] >= 5
    assert org.calls["collections"] <= 2


async def test_a_limit_error_anyway_pauses_all_writes_then_finishes(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, batch_size=10)
    await produce(settings, [account(f"A-{n}") for n in range(50)])
    org = FakeOrg(faults=[None, "limit"])
    await run_burst(settings, org)
    out = await outcomes(settings)
    assert len(set(out.written_ids)) == 50
    assert out.dead == []
    gaps = [later - earlier for earlier, later in zip(org.call_times, org.call_times[1:], strict=False)]
    assert max(gaps) >= 0.9  # the pause after REQUEST_LIMIT_EXCEEDED (Retry-After 1 s), not a hammering retry
    assert org.limit_errors == 1


async def test_an_undecodable_write_is_dead_lettered_and_the_stream_goes_on(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    await produce(settings, [account("A-1")])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topics.bulk, b"\xff not json", key=b"k")
    finally:
        await producer.stop()
    await produce(settings, [account("A-2")])
    stats = await run_burst(settings, FakeOrg())
    out = await outcomes(settings)
    assert sorted(out.written_ids) == ["A-1", "A-2"]
    assert [(d.reason, d.payload, d.origin.offset) for d in out.dead] == [("malformed_write", b"\xff not json", 1)]
    assert stats.undecodable == 1
    assert await committed(settings) == {settings.topics.bulk: 3}


async def test_the_governor_share_follows_the_partitions_across_rebalances(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=2)  # 4 write partitions in all
    metrics = Metrics.create(CollectorRegistry())
    gates = [build_gate(settings, metrics), build_gate(settings, metrics)]
    stops = [asyncio.Event(), asyncio.Event()]
    org = FakeOrg()
    workers = [
        asyncio.create_task(run_sink(settings, org, gate, stop, metrics=metrics))
        for gate, stop in zip(gates, stops, strict=True)
    ]
    try:
        for _ in range(300):
            if [g.governor.share for g in gates] == [0.5, 0.5]:
                break
            await asyncio.sleep(0.1)
        assert [g.governor.share for g in gates] == [0.5, 0.5]
        assert [g.governor.concurrency_cap for g in gates] == [5, 5]
        stops[0].set()  # one worker leaves: the survivor takes its partitions, and its share of the budget
        await asyncio.wait_for(workers[0], timeout=60)
        for _ in range(300):
            if gates[1].governor.share == 1.0:
                break
            await asyncio.sleep(0.1)
        assert gates[1].governor.share == 1.0
        await produce(settings, [account(f"A-{n}") for n in range(20)])
        for _ in range(300):
            if len(org.records) == 20:
                break
            await asyncio.sleep(0.1)
        assert len(org.records) == 20
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=60)
