"""Sink tests on a real broker: fresh topics, settings pointing at them, writes in, outcomes out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bridge.config import (
    GovernorSettings,
    KafkaSettings,
    ProcessorSettings,
    SalesforceSettings,
    Settings,
    SinkSettings,
    TopicSettings,
)
from bridge.emulator import EmulatorServer, Org
from bridge.governor import GovernorGate
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.processing.routing import DeadLetter, decode_dead_letter, write_message
from bridge.salesforce import SalesforceClient, auth_from_settings
from bridge.sink.delivery import SinkStats
from bridge.sink.executor import RecordWriter
from bridge.sink.runner import build_gate, run_sink
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.fakeorg import FakeOrg


async def sink_settings(
    kafka_bootstrap: str,
    new_topic: NewTopicFactory,
    *,
    partitions: int = 2,
    governor: GovernorSettings | None = None,
    processor: ProcessorSettings | None = None,
    **sink: Any,
) -> Settings:
    """Settings with fresh write, results and DLQ topics, a fresh group and fast retries. The processor upstream
    is a group of its own that never committed (nothing to wait for) unless `processor` says otherwise."""
    topics = TopicSettings(
        realtime=await new_topic("rt", partitions),
        bulk=await new_topic("bulk", partitions),
        results=await new_topic("results", 1),
        dlq=await new_topic("dlq", 1),
    )
    sink_defaults: dict[str, Any] = {
        "group_id": f"sink-{uuid.uuid4().hex[:8]}",
        "batch_linger_s": 0.05,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.2,
    }
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        topics=topics,
        sink=SinkSettings.model_validate(sink_defaults | sink),
        governor=governor or GovernorSettings(daily_limit_calls=1_000_000),
        processor=processor or ProcessorSettings(app_id=f"no-processor-{uuid.uuid4().hex[:8]}"),
    )


def account(
    external_id: str, *, lane: Lane = Lane.BULK, name: str | None = None, first_write: bool = False
) -> MappedRecord:
    return MappedRecord(
        "Account",
        "External_Id__c",
        external_id,
        {"Name": name or external_id},
        lane,
        1,
        (external_id,),
        first_write=first_write,
    )


def opportunity(external_id: str, account_id: str, *, lane: Lane = Lane.BULK) -> MappedRecord:
    """A deal of the account `account_id`, keyed (routed) by it as the processor does."""
    fields = {
        "Name": external_id,
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "Account": {"External_Id__c": account_id},
    }
    parents = {"Account": f"Account:{account_id}"}
    return MappedRecord("Opportunity", "External_Id__c", external_id, fields, lane, 1, (external_id,), parents=parents)


async def produce(settings: Settings, records: Sequence[MappedRecord]) -> None:
    """The processor's side: write records onto their lane's topic."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for record in records:
            out = write_message(record, settings.topics)
            futures.append(await producer.send(out.topic, out.value, key=out.key, headers=list(out.headers)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str) -> list[bytes]:
    """Every value on `topic` now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            values.extend(record.value or b"" for records in batch.values() for record in records)
        return values
    finally:
        await consumer.stop()


@dataclass
class Outcomes:
    results: list[dict[str, Any]]
    dead: list[DeadLetter]

    @property
    def written_ids(self) -> list[str]:
        return [doc["external_id"] for doc in self.results]


async def outcomes(settings: Settings) -> Outcomes:
    results = [orjson.loads(v) for v in await read_topic(settings, settings.topics.results)]
    dead = [decode_dead_letter(v) for v in await read_topic(settings, settings.topics.dlq)]
    return Outcomes(results, dead)


async def committed(settings: Settings) -> dict[str, int]:
    """The sink group's committed offsets, summed per write topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.sink.group_id)
    finally:
        await admin.close()
    totals: dict[str, int] = {}
    for tp, meta in offsets.items():
        totals[tp.topic] = totals.get(tp.topic, 0) + meta.offset
    return totals


async def run_burst(
    settings: Settings,
    writer: RecordWriter,
    metrics: Metrics | None = None,
    *,
    gate: GovernorGate | None = None,
    timeout_s: float = 60.0,
) -> SinkStats:
    """One sink worker until it is caught up and idle."""
    metrics = metrics or Metrics.create(CollectorRegistry())
    if gate is None:
        gate = build_gate(settings, metrics)
        if isinstance(writer, FakeOrg):
            writer.on_limit_info = gate.observe
    run = run_sink(settings, writer, gate, asyncio.Event(), metrics=metrics, burst=True)
    return await asyncio.wait_for(run, timeout=timeout_s)


CLIENT_ID = "emulator-client-id"  # runs as the integration user: non-essential triggers bypassed
HUMAN_CLIENT_ID = "emulator-human-client-id"  # runs as a person: every trigger fires
CLIENT_SECRET = SecretStr("emulator-client-secret")


@asynccontextmanager
async def emulator_client(
    org: Org, gate: GovernorGate, metrics: Metrics, *, client_id: str = CLIENT_ID
) -> AsyncIterator[SalesforceClient]:
    """The real client on the emulator over a real socket, feeding the governor from every response."""
    async with EmulatorServer(org) as server:
        sf_settings = SalesforceSettings(
            login_url=server.url, client_id=client_id, client_secret=CLIENT_SECRET, auth_flow="client_credentials"
        )
        auth = auth_from_settings(sf_settings)
        async with SalesforceClient(sf_settings, auth, on_limit_info=gate.observe, metrics=metrics) as client:
            yield client
