"""Sink workers as real processes against the emulator over a socket: kill -9 mid-batch, and two workers
sharing one API budget."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from bridge.config import GovernorSettings, Settings
from bridge.emulator import EmulatorServer, Org
from tests.conftest import NewTopicFactory
from tests.sink.harness import CLIENT_ID, CLIENT_SECRET, account, outcomes, produce, sink_settings

pytestmark = pytest.mark.kafka


def _env(settings: Settings, server: EmulatorServer, **extra: str) -> dict[str, str]:
    topics = settings.topics
    env = {
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
        "BRIDGE_TOPICS__REALTIME": topics.realtime,
        "BRIDGE_TOPICS__BULK": topics.bulk,
        "BRIDGE_TOPICS__RESULTS": topics.results,
        "BRIDGE_TOPICS__DLQ": topics.dlq,
        "BRIDGE_SINK__GROUP_ID": settings.sink.group_id,
        "BRIDGE_SINK__BATCH_SIZE": str(settings.sink.batch_size),
        "BRIDGE_SINK__BATCH_LINGER_S": "0.05",
        "BRIDGE_SINK__SESSION_TIMEOUT_S": "8",  # the killed worker's partitions move sooner
        "BRIDGE_SALESFORCE__LOGIN_URL": server.url,
        "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
        "BRIDGE_SALESFORCE__CLIENT_ID": CLIENT_ID,
        "BRIDGE_SALESFORCE__CLIENT_SECRET": CLIENT_SECRET.get_secret_value(),
    }
    return os.environ | env | extra


@asynccontextmanager
async def _worker(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.sink.sink_process", env=env)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=40)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until(predicate: Callable[[], bool], timeout_s: float) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {timeout_s} s")


async def test_kill_minus_9_mid_batch_then_restart_is_exact(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, batch_size=50)
    await produce(settings, [account(f"K-{n}") for n in range(1_000)])
    org = Org()
    org.faults.add("latency", path="/services/data", method="PATCH", count=None, latency_ms=150)
    async with EmulatorServer(org) as server:
        env = _env(settings, server)
        async with _worker(env) as first:
            await _until(lambda: org.count("Account") >= 200, timeout_s=60)
            first.kill()  # SIGKILL: no drain, no last commit
            await first.wait()
        partial = org.count("Account")
        assert partial < 1_000
        async with _worker(env):
            await _until(lambda: org.count("Account") == 1_000, timeout_s=90)
            expected = {f"K-{n}" for n in range(1_000)}
            for _ in range(100):
                if set((await outcomes(settings)).written_ids) >= expected:
                    break
                await asyncio.sleep(0.3)
    out = await outcomes(settings)
    assert set(out.written_ids) == expected
    assert out.dead == []
    assert org.count("Account") == 1_000  # nothing lost, nothing doubled (external IDs are unique in the org)
    assert len(out.results) - 1_000 <= 50 * 10  # at most the uncommitted tail was redone


async def test_two_workers_sharing_one_budget_stay_under_it(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=4, batch_size=5, governor=GovernorSettings())
    await produce(settings, [account(f"S-{n}") for n in range(2_000)])
    org = Org(daily_limit=600)
    org.api_usage.spend(100)  # another integration
    async with EmulatorServer(org) as server:
        env = _env(
            settings,
            server,
            BRIDGE_GOVERNOR__SAFETY_MARGIN_CALLS="20",
            BRIDGE_GOVERNOR__BUCKET_CAPACITY_CALLS="10000",  # the budget, not the spreading, is under test here
            BRIDGE_SINK__BULK_BUDGET_SHARE="0",  # Collections only: every call counts against the ceiling
        )
        async with _worker(env), _worker(env):
            bulk_ceiling = 600 * 0.8 - 20
            await _until(lambda: org.api_usage.used() >= bulk_ceiling - 40, timeout_s=90)
            await asyncio.sleep(3.0)  # would they go on?
            used = org.api_usage.used()
    refused = [entry for entry in org.call_log if entry.status == 403]
    assert refused == []
    assert used <= bulk_ceiling + 10  # both workers together: the ceiling plus at most the calls in flight
    assert org.count("Account") < 2_000
