"""Fixtures for the ingest: a real server over a socket, the suite's real broker, topics of the test's own, tokens."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, generate_latest

from bridge.config import IngestSettings, KafkaSettings, ProcessorSettings, Settings
from bridge.demo.readback import read_back
from bridge.events import CloudEvent, to_structured
from bridge.ingest import Guard, ReloadingTLS, ingest_routes
from bridge.ingest.tokens import IdentityEntry, TokenFile, new_token, write_token_file
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.server import ConnectionLimits, WorkerServer, create_app

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CUSTOMER = "com.acme.crm.customer.upserted"
DEAL = "com.acme.crm.deal.upserted"
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        configured = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
        if not configured:
            pytest.fail("no Kafka broker: no kafka_bootstrap fixture and BRIDGE_KAFKA__BOOTSTRAP_SERVERS unset")
        return configured


@dataclass(frozen=True)
class Schemas:
    """A copy of `schemas/` whose two event types go to topics of this test only ('nothing sent' is checkable)."""

    directory: Path
    customer_topic: str
    deal_topic: str

    @property
    def topics(self) -> tuple[str, str]:
        return self.customer_topic, self.deal_topic


@pytest.fixture
def schemas(tmp_path: Path) -> Schemas:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, directory)
    topics = {}
    for event_type in (CUSTOMER, DEAL):
        path = directory / "events" / f"{event_type}.schema.json"
        schema = orjson.loads(path.read_bytes())
        topics[event_type] = schema["x-bridge"]["topic"] = f"test.ingest.{uuid.uuid4().hex[:12]}"
        schema["x-bridge"].pop("realtime_topic", None)  # both lanes on that topic
        path.write_bytes(orjson.dumps(schema))
    return Schemas(directory, topics[CUSTOMER], topics[DEAL])


@dataclass
class TokenFileHandle:
    """A token file of the test's own; `tokens` maps identity name → its newest token (what the tests send)."""

    path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        name: str,
        *,
        sources: tuple[str, ...] = ("erp://test",),
        types: tuple[str, ...] = (CUSTOMER,),
        **extra: Any,
    ) -> str:
        current = _read(self.path)
        taken = {t.id for i in current.identities for t in i.tokens}
        token, record = new_token(taken)
        existing = current.identity(name)
        if existing is None:
            entry = IdentityEntry(name=name, sources=sources, types=types, tokens=(record,), **extra)
        else:
            entry = existing.model_copy(update={"tokens": (*existing.tokens, record)})
        write_token_file(self.path, current.with_identity(entry))
        self.tokens[name] = token
        return token

    def bearer(self, name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[name]}"}


def _read(path: Path) -> TokenFile:
    return TokenFile.model_validate_json(path.read_bytes()) if path.exists() else TokenFile()


@pytest.fixture
def token_file(tmp_path: Path) -> TokenFileHandle:
    """A token file with identity `ERP` (source erp://test, any com.acme.crm.* type)."""
    handle = TokenFileHandle(tmp_path / "tokens.json")
    handle.add("ERP", types=("com.acme.crm.*",))
    return handle


class Ingest:
    """A running ingest: an HTTP client on its socket, its topics, its metrics and its token file."""

    def __init__(
        self, client: httpx.AsyncClient, schemas: Schemas, registry: CollectorRegistry, bootstrap: str
    ) -> None:
        self.client, self.schemas, self.registry, self.bootstrap = client, schemas, registry, bootstrap

    @property
    def topic(self) -> str:
        return self.schemas.customer_topic

    async def sent(self) -> list[CloudEvent]:
        """The events on the customer topic, decoded."""
        return await read_back(self.bootstrap, [self.topic], timeout_s=15)

    async def end_offsets(self) -> int:
        """The sum of the end offsets of the test's topics: 0 means nothing was ever written."""
        return sum((await _end_offsets(self.bootstrap, self.schemas.topics)).values())

    async def records(self) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record on the test's topics, as the broker holds it."""
        return await raw_records(self.bootstrap, self.schemas.topics)

    def count(self, status: int) -> float:
        return self.registry.get_sample_value("bridge_ingest_requests_total", {"status": str(status)}) or 0.0

    def metrics_text(self) -> str:
        return generate_latest(self.registry).decode()


async def _end_offsets(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    # An end offset of 0 must mean "nothing written", never "topic not found".
    assert {tp.topic for tp in partitions} == set(topics), f"topics not found: {described}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def raw_records(bootstrap: str, topics: tuple[str, ...]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics` up to their current end offsets."""
    end = await _end_offsets(bootstrap, topics)
    wanted = {tp: offset for tp, offset in end.items() if offset > 0}
    if not wanted:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        while wanted:
            for tp, batch in (await consumer.getmany(*wanted, timeout_ms=1_000)).items():
                records.extend(batch)
                if batch and batch[-1].offset + 1 >= wanted[tp]:
                    del wanted[tp]
    finally:
        await consumer.stop()
    return records


@contextlib.asynccontextmanager
async def running_ingest(
    bootstrap: str,
    schemas: Schemas,
    tokens: Path | None,
    *,
    tls: ReloadingTLS | None = None,
    verify: ssl.SSLContext | bool = True,
    guard: Guard | None = None,
    headers: dict[str, str] | None = None,
    **ingest: Any,
) -> AsyncIterator[Ingest]:
    """The ingest routes on a real server over a socket (TLS when `tls`), with the metrics and readiness routes."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    await ensure_topics(kafka, [TopicSpec(topic, 3, 1, {}) for topic in schemas.topics])
    auth = {"auth": "required", "tokens_file": tokens} if tokens is not None else {"auth": "none"}
    settings = Settings(
        kafka=kafka,
        ingest=IngestSettings(**(auth | ingest)),
        processor=ProcessorSettings(schemas_dir=schemas.directory),
    )
    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    limits = ConnectionLimits(settings.ingest.header_timeout_s, settings.ingest.max_connections)
    async with Publisher(settings, metrics=metrics) as publisher:
        routes = ingest_routes(publisher, settings.ingest, metrics, guard=guard)
        app = create_app(registry, {"kafka": publisher.ready}, routes=routes)
        server = WorkerServer(app, tls=tls.context if tls else None, limits=limits)
        async with server, httpx.AsyncClient(base_url=server.url, timeout=30, verify=verify, headers=headers) as client:
            yield Ingest(client, schemas, registry, bootstrap)


@pytest.fixture
async def ingest(bootstrap: str, schemas: Schemas, token_file: TokenFileHandle) -> AsyncIterator[Ingest]:
    bearer = token_file.bearer("ERP")
    async with running_ingest(bootstrap, schemas, token_file.path, headers=bearer, max_body_bytes=200_000) as handle:
        yield handle


def customer(
    customer_id: str = "C-1", *, source: str = "erp://test", event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    payload = {"customer_id": customer_id, "version": 1, "name": "Acme", **data}
    event = CloudEvent(id=event_id or f"e-{uuid.uuid4().hex}", source=source, type=CUSTOMER, data=payload)
    return to_structured(event)


def deal(deal_id: str = "D-1", *, source: str = "erp://test") -> dict[str, Any]:
    payload = {
        "deal_id": deal_id,
        "version": 1,
        "name": "Deal",
        "stage": "Prospecting",
        "close_date": "2030-01-31",
        "customer_id": "C-1",
    }
    event = CloudEvent(id=f"d-{uuid.uuid4().hex}", source=source, type=DEAL, data=payload)
    return to_structured(event)
