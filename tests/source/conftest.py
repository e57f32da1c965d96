"""Fixtures for the source: an emulated Pub/Sub feed on a real gRPC socket, and settings for a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from bridge.config import KafkaSettings, Settings, SourceSettings, TopicSettings
from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.pubsub_server import PubSubServer
from bridge.pubsub.client import Credentials
from bridge.source.changes import ChangeEvent, decode_change_record
from bridge.source.checkpoint import Checkpoint, load_checkpoints

FIELDS = [("Name", "string"), ("Phone", "phone"), ("AnnualRevenue", "currency"), ("SystemModstamp", "datetime")]


class Clock:
    """The emulator's clock in seconds; tests move it to cross the retention window."""

    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now_s


class Org:
    """The records behind the feed, so reconciliation reads have something true to return."""

    def __init__(self, feed: PubSubFeed) -> None:
        self.feed = feed
        self.records: dict[str, dict[str, Any]] = {}
        self.tokens = {"token-1"}
        self._tx = 0
        self.reads: list[tuple[str, tuple[str, ...]]] = []

    def change(self, n: int, *, name: str, origin: str = "", change_type: str = "UPDATE") -> int:
        record_id = f"001{n:015d}"
        self._tx += 1
        values = {"Name": name, "SystemModstamp": int(self.feed_clock() * 1000)}
        self.records[record_id] = {"Id": record_id, **values}
        header = {
            "entityName": "Account",
            "recordIds": [record_id],
            "changeType": change_type,
            "changeOrigin": origin,
            "transactionKey": f"tx-{self._tx}",
            "sequenceNumber": 1,
            "commitTimestamp": int(self.feed_clock() * 1000),
            "commitNumber": self._tx,
            "commitUser": "005000000000001AAA",
            "changedFields": ["Name", "SystemModstamp"],
        }
        return self.feed.append_change("Account", header, values)

    def feed_clock(self) -> float:
        return self.feed._clock()

    # The Reconciler protocol, answered from the org's records.
    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]:
        self.reads.append((entity, ()))
        return [dict(r) for r in self.records.values() if r["SystemModstamp"] >= since_ms]

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        self.reads.append((entity, tuple(record_ids)))
        return [dict(self.records[i]) for i in record_ids if i in self.records]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def org(clock: Clock) -> Org:
    org_holder: list[Org] = []
    feed = PubSubFeed(clock=clock, session_valid=lambda token: token in org_holder[0].tokens)
    feed.register_entity("Account", FIELDS)
    org = Org(feed)
    org_holder.append(org)
    return org


@pytest.fixture
async def pubsub(org: Org) -> AsyncIterator[PubSubServer]:
    async with PubSubServer(org.feed, keepalive_s=0.5) as server:
        yield server


def credentials_for(org: Org) -> Callable[[bool], Awaitable[Credentials]]:
    """Logs in again (a new token the org accepts) when asked for a fresh session."""
    current = {"token": "token-1", "logins": 0}

    async def provide(fresh: bool) -> Credentials:
        if fresh:
            current["logins"] += 1
            current["token"] = f"token-{current['logins'] + 1}"
            org.tokens.add(current["token"])
        return Credentials(current["token"], "https://emulator.example", "00D000000000001AAA")

    return provide


@pytest.fixture
def source_settings(kafka_bootstrap: str, pubsub: PubSubServer) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        topics=TopicSettings(cdc_prefix=f"t{run}.crm.cdc.", source_checkpoints=f"t{run}.checkpoints", partitions=3),
        source=SourceSettings(
            pubsub_target=pubsub.target,
            pubsub_tls=False,
            channels=("/data/ChangeEvents",),
            transactional_id=f"source-{run}",
            num_requested=7,
            retry_backoff_s=0.05,
            retry_backoff_max_s=0.2,
        ),
    )


async def read_changes(settings: Settings, entity: str = "Account", *, expect: int) -> list[ChangeEvent]:
    """Everything committed on the entity's CDC topic, read with isolation read_committed."""
    topic = f"{settings.topics.cdc_prefix}{entity}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    events: list[ChangeEvent] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            events += [decode_change_record(r.key, r.value, r.headers) for rs in batches.values() for r in rs]
            if len(events) >= expect and not batches:
                break
    finally:
        await consumer.stop()
    return events


async def wait_for_checkpoint(settings: Settings, replay_id: int, timeout_s: float = 20) -> Checkpoint:
    """Poll the committed checkpoints until the channel's replay id reaches `replay_id`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = await load_checkpoints(str(settings.kafka.bootstrap_servers), settings.topics.source_checkpoints)
        checkpoint = found.get("/data/ChangeEvents")
        if checkpoint and checkpoint.replay_id and int.from_bytes(checkpoint.replay_id, "big") >= replay_id:
            return checkpoint
        if loop.time() > deadline:
            raise AssertionError(f"checkpoint never reached {replay_id}: {checkpoint}")
        await asyncio.sleep(0.2)
