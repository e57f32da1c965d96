"""Fixtures for the processor's edge: an org snapshot, processor workers as real processes, Kafka helpers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.catalog.snapshot import OrgSnapshot, write_snapshot
from bridge.events import CloudEvent, encode_kafka
from tests.processing.conftest import ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 3


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> str:
    """The suite's broker (`kafka_bootstrap`), or the cluster named by BRIDGE_KAFKA__BOOTSTRAP_SERVERS."""
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        bootstrap = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
        if not bootstrap:
            pytest.fail("no Kafka broker: the suite's kafka_bootstrap fixture is missing and no cluster is set")
        return bootstrap


@pytest.fixture
def org_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "org"
    write_snapshot(directory, OrgSnapshot({"Account": ACCOUNT_DESCRIBE, "Opportunity": OPPORTUNITY_DESCRIBE}))
    return directory


@dataclass(frozen=True)
class Names:
    """Unique topic names and app id for one test."""

    prefix: str

    @property
    def source(self) -> str:
        return f"{self.prefix}.domain"

    @property
    def realtime(self) -> str:
        return f"{self.prefix}.rt"

    @property
    def bulk(self) -> str:
        return f"{self.prefix}.bulk"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def app_id(self) -> str:
        return f"{self.prefix}-proc"

    @property
    def changelog(self) -> str:
        return f"{self.app_id}-dedupe-changelog"


@pytest.fixture
async def names(broker: str) -> Names:
    found = Names(f"p5-{uuid.uuid4().hex[:10]}")
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        topics = [NewTopic(t, PARTITIONS, 1) for t in (found.source, found.realtime, found.bulk)]
        await admin.create_topics([*topics, NewTopic(found.dlq, 1, 1)])
    finally:
        await admin.close()
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Worker:
    """One `python -m bridge.processor` process."""

    def __init__(self, env: dict[str, str], org_dir: Path, log_path: Path) -> None:
        self.metrics_port = _free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        command = [sys.executable, "-m", "bridge.processor", "--org-dir", str(org_dir)]
        command += ["--metrics-port", str(self.metrics_port)]
        self.process = subprocess.Popen(command, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while "Worker]: Ready" not in self.log():
            assert self.process.poll() is None, f"worker exited:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready:\n{self.log()[-3000:]}"
            await asyncio.sleep(0.2)

    async def metric(self, name: str, **labels: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + ("{" if labels else "")):
                head, _, value = line.rpartition(" ")
                if all(f'{k}="{v}"' in head for k, v in labels.items()) or not want:
                    total += float(value)
        return total

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return int(self.process.returncode)


@pytest.fixture
def start_worker(broker: str, names: Names, org_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Factory: start a processor worker on this test's topics; every worker is stopped at teardown."""
    started: list[Worker] = []

    def start(**overrides: str) -> Worker:
        env = {
            **os.environ,
            "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker,
            "BRIDGE_PROCESSOR__APP_ID": names.app_id,
            "BRIDGE_PROCESSOR__SOURCE_TOPICS": f'["{names.source}"]',
            "BRIDGE_PROCESSOR__COALESCE_WINDOW_S": "0.2",
            "BRIDGE_TOPICS__REALTIME": names.realtime,
            "BRIDGE_TOPICS__BULK": names.bulk,
            "BRIDGE_TOPICS__DLQ": names.dlq,
            "BRIDGE_TOPICS__PARTITIONS": str(PARTITIONS),
            "BRIDGE_PUBLISHER__MAX_EVENT_BYTES": "100000",
            **overrides,
        }
        worker = Worker(env, org_dir, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def customer_event(customer_id: str, version: int, event_id: str | None = None, **data: Any) -> CloudEvent:
    payload = {"customer_id": customer_id, "version": version, "name": f"Customer {customer_id} v{version}", **data}
    return CloudEvent(
        id=event_id or f"{customer_id}-v{version}",
        source="erp://test",
        type="com.acme.crm.customer.upserted",
        data=payload,
        partitionkey=f"Account:{customer_id}",
    )


@pytest.fixture
async def producer(broker: str) -> AsyncIterator[AIOKafkaProducer]:
    prod = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=True)
    await prod.start()
    yield prod
    await prod.stop()


async def publish(producer: AIOKafkaProducer, topic: str, events: Sequence[CloudEvent]) -> None:
    futures = []
    for event in events:
        record = encode_kafka(event)
        futures.append(await producer.send(topic, record.value, key=record.key, headers=record.headers))
    await asyncio.gather(*futures)


async def read_until(
    broker: str, topics: Sequence[str], done: Callable[[list[Any]], bool], timeout_s: float = 60.0, idle_s: float = 3.0
) -> list[Any]:
    """Read `topics` from the start until `done(messages)` holds and nothing more arrives for `idle_s`."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=broker, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            new = [m for records in batch.values() for m in records]
            messages.extend(new)
            if new:
                quiet_since = time.monotonic()
            elif done(messages) and time.monotonic() - quiet_since >= idle_s:
                break
    finally:
        await consumer.stop()
    return messages
