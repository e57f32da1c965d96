"""The real thing: rows inserted, updated and deleted in PostgreSQL, captured by Debezium's PostgreSQL connector in
a Kafka Connect worker on the test broker, read by the processor's core, written by the sink into the emulator's
org: record by record, the org ends as the table does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from bridge.config import Settings
from bridge.emulator import Org
from bridge.events import SchemaRegistry
from bridge.metrics import Metrics
from bridge.processing.batch import BatchContext, InRecord, process_batch
from bridge.processing.mapping import parse_mappings
from bridge.processing.metadata import parse_describe
from bridge.processing.pipeline import Pipeline
from bridge.processing.records import Origin
from bridge.processing.validation import Validator
from bridge.sink.runner import build_gate
from tests.conftest import NewTopicFactory
from tests.debezium.services import connect_worker, missing, postgres
from tests.sink.harness import emulator_client, outcomes, run_burst, sink_settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
if (reason := missing()) is not None:
    pytestmark.append(pytest.mark.skip(reason=reason))

PREFIX = "pgtest"
TOPIC = f"{PREFIX}.public.customers"
MAPPING = {
    "debezium_topic": TOPIC,
    "sobject": "Account",
    "external_id_field": "External_Id__c",
    "external_id_from": "data.id",
    "fields": {
        "Name": {"from": "data.name", "transforms": ["trim"]},
        "AnnualRevenue": {"from": "data.revenue", "transforms": ["number"]},
    },
}


async def _read(bootstrap: str, count: int, timeout_s: float) -> list[InRecord]:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[InRecord] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=1_000)
                for tp, messages in batch.items():
                    records += [InRecord(Origin(tp.topic, tp.partition, m.offset), m.key, m.value) for m in messages]
    finally:
        await consumer.stop()
    return records


async def _bridge(settings: Settings, org: Org, records: list[InRecord]) -> None:
    """The processor's core over the Debezium records, its writes produced for the sink; then the sink."""
    mappings = parse_mappings([MAPPING])
    describe = org.describe("Account")
    assert describe is not None
    pipeline = Pipeline(mappings, Validator({"Account": parse_describe(describe)}))
    context = BatchContext(pipeline, SchemaRegistry.load(), settings.topics, 1_000_000)
    result = process_batch(records[:2], context, lambda key: None)  # the snapshot, then the changes
    known = {key: state for key, (_, state) in result.states.items()}
    rest = process_batch(records[2:], context, known.get)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for out in (*result.outbound, *rest.outbound):
            await producer.send_and_wait(out.topic, out.value, key=out.key, headers=list(out.headers))
    finally:
        await producer.stop()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)


async def test_inserts_updates_and_deletes_in_postgresql_reach_the_org(
    kafka_bootstrap: str, new_topic: NewTopicFactory, tmp_path: Path
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    with postgres() as pg:
        pg.psql("CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, revenue numeric(12, 2))")
        pg.psql("INSERT INTO customers VALUES (1, 'Acme', 1234.50), (2, 'Globex', NULL)")
        with connect_worker(tmp_path, kafka_bootstrap, pg, PREFIX):
            snapshot = await _read(kafka_bootstrap, 2, timeout_s=150)
            pg.psql("INSERT INTO customers VALUES (3, 'Initech', 10)")
            pg.psql("UPDATE customers SET name = 'Acme AG', revenue = 99.99 WHERE id = 1")
            pg.psql("DELETE FROM customers WHERE id = 2")
            records = await _read(kafka_bootstrap, 6, timeout_s=60)  # 2 read, c, u, d and the d's tombstone
    assert len(snapshot) >= 2
    org = Org()
    await _bridge(settings, org, records)
    acme = org.by_external_id("Account", "External_Id__c", "1")
    initech = org.by_external_id("Account", "External_Id__c", "3")
    assert acme is not None
    assert (acme["Name"], float(acme["AnnualRevenue"])) == ("Acme AG", 99.99)
    assert initech is not None
    assert initech["Name"] == "Initech"
    assert org.by_external_id("Account", "External_Id__c", "2") is None  # deleted in PostgreSQL
    out = await outcomes(settings)
    assert out.dead == []
    assert [doc["external_id"] for doc in out.results if doc["deleted"]] == ["2"]
