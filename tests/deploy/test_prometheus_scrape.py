"""A real Prometheus server (Debian's package) scrapes a running worker and evaluates the shipped alert rules."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from bridge.metrics import Metrics
from bridge.server import WorkerServer, create_app
from tests.deploy.conftest import CHART, tool

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def worker() -> AsyncIterator[tuple[Metrics, str]]:
    metrics = Metrics.create(CollectorRegistry())

    async def kafka_ready() -> bool:
        return True

    app = create_app(metrics.registry, {"kafka": kafka_ready})
    async with WorkerServer(app, host="127.0.0.1", port=0) as server:
        yield metrics, f"127.0.0.1:{server.port}"


@pytest.fixture
async def prometheus(worker: tuple[Metrics, str], tmp_path: Path) -> AsyncIterator[str]:
    _, target = worker
    rules = tmp_path / "alerts.yml"
    rules.write_text((CHART / "files" / "alerts.yml").read_text())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "crm-bridge", "static_configs": [{"targets": [target], "labels": {"role": "sink"}}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        tool("prometheus"),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (tmp_path / "prometheus.log").open("w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


async def poll(url: str, params: dict[str, str], check: Any, timeout_s: float = 45) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            try:
                last = (await client.get(url, params=params)).json()
            except (httpx.TransportError, ValueError):
                last = None
            if last is not None and check(last):
                return last
            await asyncio.sleep(0.5)
    raise AssertionError(f"condition not met for {url} {params}: {last}")


async def test_prometheus_scrapes_the_worker_and_fires_the_limit_alert(
    worker: tuple[Metrics, str], prometheus: str
) -> None:
    metrics, _ = worker
    metrics.api_daily_limit.set(15_000)
    metrics.api_budget_used.set(13_500)

    def results(body: Any) -> list[Any]:
        return list(body.get("data", {}).get("result", []))

    up = await poll(f"{prometheus}/api/v1/query", {"query": 'up{job="crm-bridge"}'}, results)
    assert results(up)[0]["value"][1] == "1"

    ratio_expr = "max(bridge_api_budget_used_calls) / max(bridge_api_daily_limit_calls)"
    ratio = await poll(f"{prometheus}/api/v1/query", {"query": ratio_expr}, results)
    assert float(results(ratio)[0]["value"][1]) == pytest.approx(0.9)

    rules = await poll(f"{prometheus}/api/v1/rules", {}, lambda b: b.get("data", {}).get("groups"))
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert "CrmBridgeApiLimitErrors" in names
    assert len(names) == 7

    # Wait for a first sample of the counter, then a REQUEST_LIMIT_EXCEEDED makes the alert fire.
    await poll(
        f"{prometheus}/api/v1/query",
        {"query": "bridge_salesforce_limit_errors_total"},
        results,
    )
    metrics.api_limit_errors.inc()

    def firing(body: Any) -> bool:
        alerts = body.get("data", {}).get("alerts", [])
        return any(a["labels"]["alertname"] == "CrmBridgeApiLimitErrors" and a["state"] == "firing" for a in alerts)

    alerts = await poll(f"{prometheus}/api/v1/alerts", {}, firing)
    assert firing(alerts)


async def test_the_realtime_slo_alert_goes_pending_when_the_p99_is_over_the_objective(
    worker: tuple[Metrics, str], prometheus: str
) -> None:
    metrics, _ = worker
    metrics.realtime_latency_slo.set(2.0)

    def scraped(body: Any) -> bool:
        return bool(body.get("data", {}).get("result"))

    await poll(f"{prometheus}/api/v1/query", {"query": "bridge_realtime_latency_seconds_count"}, scraped)
    for _ in range(20):
        metrics.realtime_latency.observe(0.2)

    def has_rate(body: Any) -> bool:
        result = body.get("data", {}).get("result", [])
        return bool(result) and result[0]["value"][1] not in {"NaN", "0"}

    p99 = "histogram_quantile(0.99, sum by (le) (rate(bridge_realtime_latency_seconds_bucket[5m])))"
    await poll(f"{prometheus}/api/v1/query", {"query": p99}, has_rate)  # two samples: under the objective

    def state(body: Any) -> str | None:
        alerts = body.get("data", {}).get("alerts", [])
        return next((a["state"] for a in alerts if a["labels"]["alertname"] == "CrmBridgeRealtimeLatencySlo"), None)

    alerts = await poll(f"{prometheus}/api/v1/alerts", {}, lambda body: body.get("data") is not None)
    assert state(alerts) is None  # p99 0.2 s < 2 s
    for _ in range(200):
        metrics.realtime_latency.observe(8.0)  # edits now take 8 s: the p99 is over the objective
    alerts = await poll(f"{prometheus}/api/v1/alerts", {}, lambda body: state(body) == "pending")  # `for: 5m`
    assert state(alerts) == "pending"
