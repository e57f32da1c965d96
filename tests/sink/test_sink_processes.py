"""Sink workers as real processes against the emulator over a socket: kill -9 mid-batch, and two workers
sharing one API budget."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
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
        "BRIDGE_PROCESSOR__APP_ID": settings.processor.app_id,
        "BRIDGE_PROCESSOR__SOURCE_TOPICS": orjson.dumps(list(settings.processor.source_topics)).decode(),
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


async def test_kill_minus_9_of_a_sink_holding_children_loses_nothing_and_writes_nothing_twice(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from bridge.config import ProcessorSettings
    from tests.sink.harness import opportunity

    domain = await new_topic("domain", 1)
    processor = ProcessorSettings(app_id=f"processor-{domain}", source_topics=(domain,))
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=2, batch_size=50, processor=processor)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    for n in range(10):  # domain events the processor has not got to yet: the children's parents may be there
        await producer.send_and_wait(domain, b"{}", key=str(n).encode())
    await producer.stop()

    async def processor_commits(offset: int) -> None:
        group = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=processor.app_id, enable_auto_commit=False)
        await group.start()
        try:
            group.assign([TopicPartition(domain, 0)])
            await group.commit({TopicPartition(domain, 0): offset})
        finally:
            await group.stop()

    await processor_commits(2)
    await produce(settings, [opportunity(f"O-{n}", f"A-{n}") for n in range(200)])
    org = Org()
    async with EmulatorServer(org) as server:
        env = _env(settings, server, BRIDGE_SINK__PARENT_WAIT_S="300")
        async with _worker(env) as first:
            await asyncio.sleep(4.0)  # it has read the children and holds them
            assert org.count("Opportunity") == 0
            first.kill()  # SIGKILL while holding 200 children
            await first.wait()
        await produce(settings, [account(f"A-{n}") for n in range(200)])
        await processor_commits(10)
        async with _worker(env):
            await _until(lambda: org.count("Opportunity") == 200, timeout_s=90)
            for _ in range(100):
                if len((await outcomes(settings)).written_ids) >= 400:
                    break
                await asyncio.sleep(0.3)
    out = await outcomes(settings)
    assert out.dead == []
    assert sorted(out.written_ids) == sorted([f"A-{n}" for n in range(200)] + [f"O-{n}" for n in range(200)])
    assert org.count("Account") == 200  # nothing doubled: external IDs are unique in the org
    assert len(out.results) == 400  # each record written once: the killed worker had sent none of its held children
    failed = [entry for entry in org.call_log if entry.status >= 400]
    assert failed == []
