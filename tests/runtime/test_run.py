"""`crm-bridge run`: a role as a real process (health, metrics, SIGTERM), and the supervisor behind `run all`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from bridge.kafka.processes import PARENT_PID_ENV, free_ports
from bridge.runtime.supervisor import Child, plan, supervise


def test_plan_gives_each_role_its_own_metrics_port() -> None:
    children = plan(("sink", "source"), 9200, ("--org-dir", "x"))
    assert [c.metrics_port for c in children] == [9200, 9201]
    assert children[1].argv[-4:] == ("run", "source", "--org-dir", "x")
    assert children[0].argv[1:3] == ("-m", "bridge")


def _child(role: str, code: str) -> Child:
    return Child(role, (sys.executable, "-c", code), 0)


async def test_one_role_exiting_stops_the_others_and_its_code_is_returned() -> None:
    started = time.monotonic()
    children = [
        _child("a", "import time; time.sleep(60)"),
        _child("b", "import sys, time; time.sleep(0.5); sys.exit(3)"),
    ]
    code = await supervise(children, asyncio.Event())
    assert code == 3
    assert time.monotonic() - started < 30  # "a" was terminated, not waited for


async def test_stop_terminates_every_role() -> None:
    stop = asyncio.Event()
    children = [_child(r, "import time; time.sleep(60)") for r in ("a", "b")]
    task = asyncio.create_task(supervise(children, stop))
    await asyncio.sleep(0.5)
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0  # stopped by our SIGTERM, as asked: a clean stop


@pytest.mark.kafka
async def test_run_ingest_serves_health_metrics_and_events_then_stops_on_sigterm(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    metrics_port, ingest_port = free_ports(2)
    env = {
        **os.environ,
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "BRIDGE_METRICS__PORT": str(metrics_port),
        "BRIDGE_INGEST__PORT": str(ingest_port),
        "BRIDGE_INGEST__TOKENS_FILE": str(tmp_path / "tokens.json"),
    }
    add = [
        sys.executable,
        "-m",
        "bridge",
        "ingest",
        "token",
        "add",
        "ERP",
        "--source",
        "erp://*",
        "--type",
        "com.acme.*",
    ]
    token = subprocess.run(add, env=env, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bridge", "run", "ingest", env=env)
    try:
        async with httpx.AsyncClient() as http:
            ready = await _wait_ready(http, f"http://127.0.0.1:{metrics_port}/readyz")
            assert ready.json()["checks"] == {"kafka": True}
            event = {
                "specversion": "1.0",
                "id": "run-test-1",
                "source": "erp://test",
                "type": "com.acme.crm.customer.upserted",
                "data": {"customer_id": "RUN-1", "version": 1, "name": "Run Test"},
            }
            url, body = f"http://127.0.0.1:{ingest_port}/v1/events", orjson.dumps(event)
            headers = {"content-type": "application/cloudevents+json"}
            anonymous = await http.post(url, content=body, headers=headers)
            response = await http.post(url, content=body, headers=headers | {"authorization": f"Bearer {token}"})
            assert anonymous.status_code == 401
            assert response.status_code == 202, response.text
            metrics = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert "bridge_ingest_requests_total" in metrics.text
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _wait_ready(http: httpx.AsyncClient, url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await http.get(url)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready in 60 s")
        await asyncio.sleep(0.2)


def test_run_ingest_without_a_token_file_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_INGEST__")}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "ingest"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "ingest.auth=required needs ingest.tokens_file" in result.stderr
    assert "crm-bridge ingest token add" in result.stderr


def test_a_role_whose_parent_is_already_gone_ends_at_once() -> None:
    env = {**os.environ, PARENT_PID_ENV: "1"}  # not our parent: as if the demo or `run all` had died
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "bridge", "run", "ingest"], env=env, timeout=60, check=False)
    assert result.returncode == -signal.SIGTERM
    assert time.monotonic() - started < 30


def test_run_all_starts_the_ingest_only_when_it_can_authenticate(tmp_path: Path) -> None:
    from bridge.cli.run import roles_for_all
    from bridge.config import IngestSettings, Settings

    assert "ingest" not in roles_for_all(Settings(ingest=IngestSettings()))
    assert "ingest" in roles_for_all(Settings(ingest=IngestSettings(tokens_file=tmp_path / "tokens.json")))
    assert "ingest" in roles_for_all(Settings(ingest=IngestSettings(auth="none")))
    assert {"processor", "sink", "source"} <= set(roles_for_all(Settings()))
