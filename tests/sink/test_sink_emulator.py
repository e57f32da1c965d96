"""The sink with the real client against the emulator over a socket, and a real broker."""

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from bridge.config import GovernorSettings
from bridge.emulator import Org
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.sink.runner import build_gate, run_sink
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.harness import (
    HUMAN_CLIENT_ID,
    account,
    committed,
    emulator_client,
    outcomes,
    produce,
    run_burst,
    sink_settings,
)

pytestmark = pytest.mark.kafka

HOSTILE = ["a/b", "q?x=1", "50%", "#hash", 'quo"te', "it's", "ünï-çødé", "sp ace", "a+b&c"]


def deal(external_id: str, account_id: str) -> MappedRecord:
    fields = {"Name": external_id, "StageName": "Prospecting", "CloseDate": "2026-12-01"}
    fields["Account"] = {"External_Id__c": account_id}  # type: ignore[assignment]
    return MappedRecord("Opportunity", "External_Id__c", external_id, fields, Lane.BULK, 1, (external_id,))


async def test_one_bad_record_in_200_faults_retried_hostile_ids_children_first_token_expiry(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, governor=GovernorSettings())
    records = [deal("D-1", "A-1"), deal("D-2", "a/b")]  # children first: their parents come later
    bad = {"Name": "bad", "NumberOfEmployees": -1}  # a validation rule: employees must be >= 0
    records += [account(f"A-{n}") for n in range(100)]
    records += [MappedRecord("Account", "External_Id__c", "BAD-1", bad, Lane.BULK, 1, ("bad",))]
    records += [account(f"A-{n}") for n in range(100, 199)] + [account(h) for h in HOSTILE]
    await produce(settings, records)
    org = Org()
    org.faults.add("unavailable", path="/services/data", count=1)
    org.faults.add("drop_after_write", method="PATCH", count=1)
    org.faults.add("unable_to_lock_row", count=1)
    org.faults.add("expire_session", count=1)  # the token expires mid-run: refreshed, the write retried
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)
    out = await outcomes(settings)
    assert [(d.reason, d.origin.topic) for d in out.dead] == [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", settings.topics.bulk)
    ]
    written = set(out.written_ids)
    assert written >= {f"A-{n}" for n in range(199)} | set(HOSTILE) | {"D-1", "D-2"}
    assert org.count("Account") == 199 + len(HOSTILE)
    assert org.count("Opportunity") == 2
    for external_id in [*HOSTILE, "A-0", "A-198"]:
        assert org.by_external_id("Account", "External_Id__c", external_id) is not None
    assert metrics.registry.get_sample_value("bridge_salesforce_limit_errors_total") in (None, 0.0)


async def test_limit_nearly_spent_pauses_bulk_and_realtime_still_goes(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(
        kafka_bootstrap,
        new_topic,
        partitions=1,
        batch_size=5,
        governor=GovernorSettings(safety_margin_calls=10),
    )
    org = Org(daily_limit=300)
    org.api_usage.spend(200)  # another integration; the bulk ceiling is 300 * 0.8 - 10 = 230
    await produce(settings, [account(f"B-{n}") for n in range(200)])
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    stop = asyncio.Event()
    async with emulator_client(org, gate, metrics) as client:
        task = asyncio.create_task(run_sink(settings, client, gate, stop, metrics=metrics))
        await asyncio.sleep(3.0)
        org.api_usage.spend(40)  # the other integration spends more: bulk must stop for good
        await produce(settings, [account(f"R-{n}", lane=Lane.REALTIME) for n in range(10)])
        for _ in range(100):
            if {f"R-{n}" for n in range(10)} <= set((await outcomes(settings)).written_ids):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    out = await outcomes(settings)
    written = set(out.written_ids)
    assert {f"R-{n}" for n in range(10)} <= written
    bulk_written = len([w for w in written if w.startswith("B-")])
    assert 0 < bulk_written < 200
    assert org.api_usage.used() <= 300 - 10
    assert metrics.registry.get_sample_value("bridge_salesforce_limit_errors_total") in (None, 0.0)
    assert (await committed(settings))[settings.topics.bulk] == bulk_written  # nothing unwritten is committed


async def test_apex_cpu_limit_shrinks_batches_without_loss(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, governor=GovernorSettings())
    await produce(settings, [account(f"C-{n}") for n in range(400)])
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics, client_id=HUMAN_CLIENT_ID) as client:  # triggers not bypassed
        await run_burst(settings, client, metrics, gate=gate)
    out = await outcomes(settings)
    assert len(set(out.written_ids)) == 400
    assert out.dead == []
    assert org.count("Account") == 400
    cpu = metrics.registry.get_sample_value("bridge_salesforce_trigger_cpu_errors_total", {"sobject": "Account"})
    assert cpu is not None
    assert cpu >= 1


async def test_platform_events_are_published_from_the_write_topics(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, governor=GovernorSettings())

    def order_event(number: str, fields: dict[str, object]) -> MappedRecord:
        return MappedRecord("Order_Event__e", "Order_Number__c", number, fields, Lane.REALTIME, 1, (number,))

    events = [order_event(f"ORD-{n}", {"Order_Number__c": f"ORD-{n}", "Status__c": "Shipped"}) for n in range(5)]
    events.append(order_event("ORD-X", {"Status__c": "no order number"}))  # a required field is missing
    await produce(settings, events)
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)
    out = await outcomes(settings)
    assert sorted(out.written_ids) == [f"ORD-{n}" for n in range(5)]
    assert all(doc["id"] for doc in out.results)
    assert [d.reason for d in out.dead] == ["REQUIRED_FIELD_MISSING"]
    published = [e for e in org.call_log if e.path.endswith("/sobjects/Order_Event__e")]
    assert [e.status for e in published].count(201) == 5
