"""HTTP ingest on a real broker: 202 only after the ack; 400/413/415 with reasons and nothing sent; 503, never 202."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from bridge.config import IngestSettings, KafkaSettings, ProcessorSettings, Settings
from bridge.ingest import create_ingest_app
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.server import WorkerServer
from tests.ingest.conftest import (
    BATCH,
    SCHEMAS,
    STRUCTURED,
    Ingest,
    Schemas,
    TokenFileHandle,
    customer,
    running_ingest,
)

pytestmark = pytest.mark.kafka


async def test_single_event_is_202_only_once_it_is_readable_on_the_topic(ingest: Ingest) -> None:
    event = customer("C/7?%#'\"ü")
    response = await ingest.client.post("/v1/events", content=orjson.dumps(event), headers=STRUCTURED)
    assert response.status_code == 202, response.text
    body = response.json()
    # Read right after the response: an ack-before-202 endpoint has the record on the log already.
    [stored] = await ingest.sent()
    assert stored.id == event["id"]
    assert stored.data == event["data"]
    assert stored.externalid == "C/7?%#'\"ü"
    assert body == {"id": event["id"], "topic": ingest.topic, "partition": body["partition"], "offset": 0}
    assert ingest.count(202) == 1


async def test_batch_is_202_with_per_event_results_and_all_events_stored(ingest: Ingest) -> None:
    events = [customer(f"C-{n}") for n in range(50)]
    response = await ingest.client.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [e["id"] for e in events]
    assert all(r["topic"] == ingest.topic and r["offset"] >= 0 for r in results)
    assert sorted(e.id for e in await ingest.sent()) == sorted(e["id"] for e in events)


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"{not json", "malformed", "not valid JSON"),
        (b"[]", "malformed", "JSON object"),
        (orjson.dumps({"specversion": "1.0", "id": "x", "source": "s"}), "malformed", "'type' is required"),
        (orjson.dumps({**customer(), "type": "com.acme.crm.unicorn.upserted"}), "unknown_type", "unknown event type"),
        (orjson.dumps(customer(version=-1)), "schema_violation", "$.version"),
        (orjson.dumps(customer("C\u0007")), "schema_violation", "control characters"),
        (orjson.dumps({**customer(), "id": "x" * 5000}), "malformed", "'id' must be shorter"),
    ],
)
async def test_invalid_events_are_400_with_the_reason_and_nothing_is_sent(
    ingest: Ingest, body: bytes, error: str, fragment: str
) -> None:
    response = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert fragment in response.json()["message"]
    assert await ingest.sent() == []
    assert ingest.count(400) == 1


async def test_schema_violation_names_the_json_path(ingest: Ingest) -> None:
    body = orjson.dumps(customer(billing_address={"postal_code": 8000}))
    response = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
    assert response.status_code == 400
    assert response.json()["path"] == "$.billing_address.postal_code"


async def test_a_batch_with_one_bad_event_is_rejected_whole_with_per_event_reasons(ingest: Ingest) -> None:
    events: list[Any] = [customer("C-1"), customer("C-2", version="x"), "not an event", customer("C-3")]
    response = await ingest.client.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_events"
    assert [(r["index"], r["error"]) for r in body["results"]] == [(1, "schema_violation"), (2, "malformed")]
    assert body["results"][0]["id"] == events[1]["id"]
    assert await ingest.sent() == []


async def test_oversized_bodies_are_413_by_content_length_and_by_streamed_size(ingest: Ingest) -> None:
    big = orjson.dumps(customer(name="n" * 250_000))
    declared = await ingest.client.post("/v1/events", content=big, headers=STRUCTURED)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 16_384):
            yield big[start : start + 16_384]

    streamed = await ingest.client.post("/v1/events", content=chunks(), headers=STRUCTURED)
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "200000 bytes" in streamed.json()["message"]
    assert await ingest.sent() == []


async def test_the_standalone_ingest_app_serves_the_same_endpoint(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec(schemas.customer_topic, 1, 1, {})])
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        ingest=IngestSettings(tokens_file=token_file.path),
        processor=ProcessorSettings(schemas_dir=schemas.directory),
    )
    metrics = Metrics.create(CollectorRegistry())
    async with Publisher(settings, metrics=metrics) as publisher:
        app = create_ingest_app(publisher, settings.ingest, metrics)  # the guard from the settings: auth required
        async with WorkerServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
            body = orjson.dumps(customer())
            accepted = await client.post("/v1/events", content=body, headers=STRUCTURED | token_file.bearer("ERP"))
            anonymous = await client.post("/v1/events", content=body, headers=STRUCTURED)
            missing = await client.get("/metrics")
    assert accepted.status_code == 202
    assert accepted.json()["topic"] == schemas.customer_topic
    assert anonymous.status_code == 401
    assert missing.status_code == 404  # metrics stay on the worker's own server


async def test_wrong_media_type_is_415_and_other_methods_are_405(ingest: Ingest) -> None:
    plain = await ingest.client.post(
        "/v1/events", content=orjson.dumps(customer()), headers={"content-type": "text/plain"}
    )
    get = await ingest.client.get("/v1/events")
    assert plain.status_code == 415
    assert get.status_code == 405
    assert await ingest.sent() == []


async def test_event_over_the_event_limit_but_under_the_body_limit_is_413(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    bearer = token_file.bearer("ERP")
    async with running_ingest(bootstrap, schemas, token_file.path, headers=bearer, max_body_bytes=3_000_000) as handle:
        response = await handle.client.post(
            "/v1/events", content=orjson.dumps(customer(name="n" * 1_500_000)), headers=STRUCTURED
        )
        assert response.status_code == 413
        assert response.json()["error"] == "too_large"
        assert await handle.end_offsets() == 0


async def test_no_ack_within_the_timeout_is_503_never_202(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    bearer = token_file.bearer("ERP")
    async with running_ingest(bootstrap, schemas, token_file.path, headers=bearer, ack_timeout_s=1e-6) as handle:
        response = await handle.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED)
        batch = await handle.client.post("/v1/events", content=orjson.dumps([customer(), customer()]), headers=BATCH)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"] == "kafka_unavailable"
        assert batch.status_code == 503
        assert len(batch.json()["results"]) == 2
        assert handle.count(503) == 2


async def test_stopped_broker_gives_503_and_not_ready(
    local_kafka_node: Any, tmp_path: Path, token_file: TokenFileHandle
) -> None:
    directory = tmp_path / "own-schemas"
    shutil.copytree(SCHEMAS, directory)
    own = Schemas(directory, "domain.erp.customer", "domain.erp.deal")
    bearer = token_file.bearer("ERP")
    async with running_ingest(
        local_kafka_node.bootstrap_servers, own, token_file.path, headers=bearer, ack_timeout_s=5
    ) as handle:
        warm = await handle.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED)
        assert warm.status_code == 202
        local_kafka_node.kill(1)
        try:
            response = await handle.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED)
            ready = await handle.client.get("/readyz")
        finally:
            await asyncio.to_thread(local_kafka_node.restart, 1)
        assert response.status_code == 503
        assert ready.status_code == 503
