"""The worker's HTTP server over a real socket: liveness, readiness from checks, metrics from the injected registry."""

from __future__ import annotations

import asyncio
import os
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bridge.config import KafkaSettings, Settings
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.server import ConnectionLimits, WorkerServer, create_app, run_checks


async def passing() -> bool:
    return True


async def failing() -> bool:
    return False


async def raising() -> bool:
    raise ConnectionError("broker gone")


async def hanging() -> bool:
    await asyncio.sleep(60)
    return True


async def test_healthz_readyz_and_metrics_over_a_real_socket() -> None:
    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    metrics.ingest_requests.labels(status="202").inc(3)
    app = create_app(registry, {"kafka": passing, "schemas": passing})
    async with WorkerServer(app, port=0) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert server.port > 0
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        exposition = await client.get("/metrics")
    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"kafka": True, "schemas": True}}
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    assert 'bridge_ingest_requests_total{status="202"} 3.0' in exposition.text


async def test_readyz_is_503_naming_failed_raising_and_hanging_checks() -> None:
    checks = {"ok": passing, "no": failing, "boom": raising, "slow": hanging}
    app = create_app(CollectorRegistry(), checks, check_timeout_s=0.2)
    async with WorkerServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"ok": True, "no": False, "boom": False, "slow": False}
    assert health.status_code == 200  # alive even when not ready


async def test_no_checks_means_ready_and_run_checks_is_concurrent() -> None:
    assert await run_checks({}) == {}
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await run_checks({"a": hanging, "b": hanging, "c": passing}, timeout_s=0.3)
    assert results == {"a": False, "b": False, "c": True}
    assert loop.time() - started < 0.9


async def test_server_stops_and_frees_its_port() -> None:
    server = WorkerServer(create_app(CollectorRegistry(), {}), port=0)
    assert "running=False" in repr(server)
    async with server:
        port = server.port
        assert "running=True" in repr(server)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


async def test_a_taken_port_fails_on_entry_not_later() -> None:
    async with WorkerServer(create_app(CollectorRegistry(), {})) as first:
        with pytest.raises(OSError, match="in use"):
            async with WorkerServer(create_app(CollectorRegistry(), {}), port=first.port):
                pass


@pytest.mark.kafka
async def test_readyz_follows_the_publisher_connection(request: pytest.FixtureRequest) -> None:
    try:
        bootstrap = str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        bootstrap = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", "")
        if not bootstrap:
            pytest.fail("no Kafka broker")
    publisher = Publisher(Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap)))
    app = create_app(CollectorRegistry(), {"kafka": publisher.ready})
    async with WorkerServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        before = await client.get("/readyz")
        async with publisher:
            during = await client.get("/readyz")
        after = await client.get("/readyz")
    assert (before.status_code, during.status_code, after.status_code) == (503, 200, 503)


async def test_connection_limits_close_a_silent_connection_and_cap_concurrency() -> None:
    registry = CollectorRegistry()
    app = create_app(registry, {"kafka": passing})
    async with WorkerServer(app, limits=ConnectionLimits(header_timeout_s=0.5, max_connections=2)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                crowded = await client.get("/healthz")  # the silent one and this one: at the limit
            late = await asyncio.wait_for(reader.read(), 5)  # then it is answered 408 and closed
            async with httpx.AsyncClient(base_url=server.url) as client:
                freed = await client.get("/healthz")
        finally:
            writer.close()
    assert crowded.status_code == 503
    assert late.startswith(b"HTTP/1.1 408 ")
    assert b'"error":"request_timeout"' in late
    assert freed.status_code == 200
