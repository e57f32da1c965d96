"""What the ingest leaves behind: a replay after a 503 ends as one write; hostile IDs travel byte-exact to the DLQ
with the producer's identity; no token, secret or Authorization header anywhere (logs, metrics, bodies, Kafka)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, generate_latest

from bridge.config import IngestSettings, KafkaSettings, ProcessorSettings, Settings, TopicSettings
from bridge.events import SchemaRegistry
from bridge.ingest import ingest_routes
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.metrics import Metrics
from bridge.processing.batch import BatchContext, BatchResult, InRecord, process_batch
from bridge.processing.mapping import default_mappings_dir, load_mappings
from bridge.processing.metadata import parse_describe
from bridge.processing.pipeline import Pipeline
from bridge.processing.records import Origin
from bridge.processing.routing import decode_dead_letter, decode_write
from bridge.processing.validation import Validator
from bridge.publisher import Publisher
from bridge.server import WorkerServer, create_app
from bridge.types import Outcome
from tests.ingest.conftest import (
    BATCH,
    STRUCTURED,
    Ingest,
    Schemas,
    TokenFileHandle,
    customer,
    raw_records,
    running_ingest,
)
from tests.processing.conftest import ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE

pytestmark = pytest.mark.kafka

TOPICS = TopicSettings()


def _process(records: list[ConsumerRecord[bytes, bytes]], schemas: Schemas) -> BatchResult:
    """The processor's core over records read back from the broker, as the faust agent hands them over."""
    objects = {d["name"]: parse_describe(d) for d in (ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE)}
    context = BatchContext(
        Pipeline(load_mappings(default_mappings_dir()), Validator(objects)),
        SchemaRegistry.load(schemas.directory),
        TOPICS,
        100_000,
    )
    ordered = sorted(records, key=lambda r: (r.partition, r.offset))
    inputs = [
        InRecord(Origin(r.topic, r.partition, r.offset), r.key, r.value, tuple((n, bytes(v)) for n, v in r.headers))
        for r in ordered
    ]
    return process_batch(inputs, context, lambda key: None)


async def test_a_replay_after_a_503_is_accepted_and_written_once_downstream(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    await ensure_topics(kafka, [TopicSpec(topic, 3, 1, {}) for topic in schemas.topics])
    settings = Settings(kafka=kafka, processor=ProcessorSettings(schemas_dir=schemas.directory))
    metrics = Metrics.create(CollectorRegistry())
    patient = IngestSettings(tokens_file=token_file.path)
    hasty = IngestSettings(tokens_file=token_file.path, ack_timeout_s=1e-6)  # answers before any ack can come
    event = orjson.dumps(customer("C-REPLAY", event_id="erp-replay-1"))
    headers = STRUCTURED | token_file.bearer("ERP")
    async with Publisher(settings, metrics=metrics) as publisher:
        apps = [create_app(metrics.registry, {}, routes=ingest_routes(publisher, s, metrics)) for s in (patient, hasty)]
        async with WorkerServer(apps[0]) as good, WorkerServer(apps[1]) as bad, httpx.AsyncClient() as http:
            warm = await http.post(f"{good.url}/v1/events", content=orjson.dumps(customer("C-WARM")), headers=headers)
            failed = await http.post(f"{bad.url}/v1/events", content=event, headers=headers)
            # The record the 503 answered for was queued and still reaches the broker.
            for _ in range(100):
                if len(await raw_records(bootstrap, schemas.topics)) == 2:
                    break
                await asyncio.sleep(0.1)
            replayed = await http.post(f"{good.url}/v1/events", content=event, headers=headers)
    assert (warm.status_code, failed.status_code, replayed.status_code) == (202, 503, 202)
    records = await raw_records(bootstrap, schemas.topics)
    copies = [r for r in records if dict(r.headers)["ce_id"] == b"erp-replay-1"]
    assert len(copies) == 2
    assert {(dict(r.headers)["ce_source"], dict(r.headers)["ce_authid"]) for r in copies} == {(b"erp://test", b"ERP")}
    result = _process(records, schemas)
    tally = Counter((a.outcome, a.reason) for a in result.accounted)
    assert tally == Counter({(Outcome.WRITTEN, None): 2, (Outcome.SKIPPED, "duplicate"): 1})
    writes = [decode_write(o.value) for o in result.outbound if o.topic != TOPICS.dlq]
    assert sorted(w.external_id for w in writes) == ["C-REPLAY", "C-WARM"]  # one write for the replayed event


HOSTILE_IDS = ["C' OR Name != '", "../../sobjects/Account", "a%2Fb?c=d#e", "C-1; DELETE", "\\x00", "ü/€"]


async def test_soql_and_url_metacharacters_in_ids_travel_byte_exact_to_the_dlq_with_the_identity(
    ingest: Ingest, schemas: Schemas
) -> None:
    # External IDs may hold any printable text (DESIGN invariant 9): the ingest neither refuses nor interprets
    # them; the processor's mapping refuses what it will not send and dead-letters it with the reason.
    events = [customer(hostile) for hostile in HOSTILE_IDS]
    response = await ingest.client.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
    assert response.status_code == 202, response.text
    records = await ingest.records()
    assert sorted(dict(r.headers)["ce_externalid"].decode() for r in records) == sorted(HOSTILE_IDS)
    result = _process(records, schemas)
    letters = [decode_dead_letter(o.value) for o in result.outbound if o.topic == TOPICS.dlq]
    assert len(letters) == len(HOSTILE_IDS)
    assert {letter.reason for letter in letters} == {"invalid_external_id"}
    assert {dict(letter.headers)["ce_authid"] for letter in letters} == {b"ERP"}
    assert sorted(orjson.loads(letter.payload)["customer_id"] for letter in letters) == sorted(HOSTILE_IDS)


async def test_no_token_secret_or_authorization_header_appears_anywhere(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle, caplog: pytest.LogCaptureFixture
) -> None:
    good = token_file.tokens["ERP"]
    other = token_file.add("CRM", types=("com.acme.crm.deal.upserted",))
    unknown = good[:-4] + "AAAA"
    secrets = [good, other, unknown, good.split("_", 2)[2], other.split("_", 2)[2]]
    bodies: list[bytes] = []
    caplog.set_level(logging.DEBUG)
    async with running_ingest(bootstrap, schemas, token_file.path, reload_interval_s=0) as ingest:
        for token, body, media in [
            (good, orjson.dumps(customer()), STRUCTURED),  # 202
            (unknown, orjson.dumps(customer()), STRUCTURED),  # 401
            (other, orjson.dumps(customer()), STRUCTURED),  # 403: CRM may not send customers
            (good, b"{broken", STRUCTURED),  # 400
            (good, orjson.dumps({**customer(), "authid": good}), STRUCTURED),  # 403, the token as a forged identity
            (good, orjson.dumps([customer(), customer()]), BATCH),  # 202
        ]:
            response = await ingest.client.post(
                "/v1/events", content=body, headers=media | {"authorization": f"Bearer {token}"}
            )
            bodies.append(response.content + str(response.headers).encode())
        token_file.path.write_text("{ broken")  # a reload failure is logged
        await ingest.client.post("/v1/events", content=b"{}", headers=STRUCTURED | {"authorization": f"Bearer {good}"})
        metrics = generate_latest(ingest.registry).decode()
        records = await ingest.records()
    kafka = b"".join((r.value or b"") + b"".join(n.encode() + v for n, v in r.headers) for r in records)
    logs = caplog.text
    for secret in secrets:
        assert secret not in logs
        assert secret not in metrics
        assert all(secret.encode() not in body for body in bodies)
        assert secret.encode() not in kafka
    assert "authorization" not in logs.lower()
    assert b"authorization" not in kafka.lower()
    assert "Bearer crmb" not in metrics
    assert len(records) == 3
