"""A fresh deployment: the roles started on an empty broker, before any source system has published anything.

The broker runs with `auto.create.topics.enable=false`, as managed clusters do: nothing exists unless a role
creates it, so a role that relies on a topic being there (or on the broker creating it with its own defaults)
fails this test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.config import KafkaSettings, Settings, TopicSettings
from bridge.demo.nightly import publish_scenario
from bridge.demo.scenario import nightly_scenario
from bridge.demo.stack import LocalStack, StackOptions
from bridge.demo.verify import verify_org
from bridge.emulator import LatencyModel
from bridge.errors import ConfigError
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.local import LocalKafkaCluster
from bridge.kafka.topics import (
    COMPACTED,
    TopicsNotAuthorized,
    TopicSpec,
    _raise_topic_errors,
    create_command,
    processor_topics,
    sink_topics,
)
from bridge.runtime.salesforce_roles import fetch_org_snapshot
from bridge.sink.runner import consumer_config

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

PARTITIONS = 4


class _Quiet:
    def stage(self, name: str, total: int) -> None: ...

    def advance(self, name: str, done: int) -> None: ...


@pytest.fixture(scope="module")
def empty_broker() -> Iterator[str]:
    """A broker of this module's own that never creates a topic by itself."""
    with LocalKafkaCluster(size=1, extra_properties={"auto.create.topics.enable": "false"}) as broker:
        yield broker.bootstrap_servers


async def _partitions(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(await admin.list_topics())
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if d.get("error_code", 0) == 0}


async def _wait_for_topics(bootstrap: str, names: set[str], timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        partitions = await _partitions(bootstrap)
        if names <= set(partitions) or time.monotonic() > deadline:
            return {name: partitions.get(name, 0) for name in names}
        await asyncio.sleep(0.5)


async def test_processor_and_sink_started_first_on_an_empty_broker_sync_what_is_published_later(
    empty_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", empty_broker)
    run_id = f"fresh{uuid.uuid4().hex[:6]}"
    options = StackOptions(
        workdir=tmp_path,
        latency=LatencyModel(speed=0.0),
        partitions=PARTITIONS,
        create_topics=False,
        env={"BRIDGE_PROCESSOR__APP_ID": f"crm-bridge-processor-{run_id}"},
    )
    scenario = nightly_scenario(accounts=60, opportunities=30, invalid_share=0.0, seed=7, run_id=run_id)
    async with LocalStack(options) as stack:
        settings = stack.settings()
        await fetch_org_snapshot(settings, tmp_path / "org")
        registry = SchemaRegistry.load(settings.processor.schemas_dir)
        assert not set(registry.topics) & set(await _partitions(empty_broker))  # nothing published yet
        await stack.start_roles(("processor", "sink"))
        wanted = {s.name for s in [*processor_topics(settings, registry.topics), *sink_topics(settings)]}
        created = await _wait_for_topics(empty_broker, wanted, timeout_s=90)
        stack.check_roles()
        # Created by the roles, with the deployment's partitions (not left missing, not the broker's default).
        assert created == dict.fromkeys(wanted, PARTITIONS)
        await asyncio.sleep(3)  # the roles' consumer groups join after the topics exist
        published = await publish_scenario(settings, registry, scenario, _Quiet())
        assert published == len(scenario.events)
        started = time.monotonic()
        check = verify_org(scenario, stack.org, run_id)
        while check.missing and time.monotonic() - started < 60:
            stack.check_roles()
            await asyncio.sleep(0.5)
            check = verify_org(scenario, stack.org, run_id)
        assert check.missing == [], f"{len(check.missing)} records not in the org after 60 s: {check.missing[:5]}"
        assert check.ok, check


async def test_a_consumer_picks_up_a_topic_created_after_it_subscribed(empty_broker: str) -> None:
    """The sink's consumer settings: a write topic that appears later is read within seconds (metadata refresh)."""
    topic = f"late.{uuid.uuid4().hex[:8]}"
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=empty_broker),
        topics=TopicSettings(realtime=topic),
    )
    config = consumer_config(settings) | {"group_id": f"late-{uuid.uuid4().hex[:6]}"}
    consumer = AIOKafkaConsumer(**config)
    await consumer.start()
    consumer.subscribe([topic])  # as the sink does: after start, so start does not wait for the topic
    producer = AIOKafkaProducer(bootstrap_servers=empty_broker)
    try:
        await asyncio.wait_for(consumer.getmany(timeout_ms=1_000), 5)  # joined, with nothing to read
        admin = AIOKafkaAdminClient(bootstrap_servers=empty_broker)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 2, 1)])
        finally:
            await admin.close()
        assert (await _wait_for_topics(empty_broker, {topic}, timeout_s=30))[topic] == 2
        await producer.start()
        await producer.send_and_wait(topic, b"late", partition=1)
        started = time.monotonic()
        got: list[bytes] = []
        while not got and time.monotonic() - started < 30:
            batches = await consumer.getmany(timeout_ms=500)
            got = [record.value for records in batches.values() for record in records if record.value]
        elapsed_s = time.monotonic() - started
        assert got == [b"late"], f"nothing read in {elapsed_s:.1f} s"
        assert elapsed_s < 20, elapsed_s  # the metadata refresh is 5 s, then a rebalance (the client default: 300 s)
    finally:
        await producer.stop()
        await consumer.stop()


def test_a_topic_refused_for_want_of_an_acl_names_the_kafka_topics_line() -> None:
    specs = [
        TopicSpec("crm.writes.realtime", 6, 3, {}),
        TopicSpec("crm.source.checkpoints", 1, 3, dict(COMPACTED)),
    ]
    errors = [("crm.writes.realtime", 29, "Authorization failed."), ("crm.source.checkpoints", 29, "denied")]
    with pytest.raises(TopicsNotAuthorized) as refused:
        _raise_topic_errors(errors, specs, "kafka-1:9093")
    assert isinstance(refused.value, ConfigError)  # the role refuses to start: `crm-bridge run` prints it and exits 1
    message = str(refused.value)
    assert (
        "kafka-topics.sh --bootstrap-server kafka-1:9093 --create --if-not-exists --topic crm.writes.realtime"
        " --partitions 6 --replication-factor 3\n" in message
    )
    assert create_command(specs[1], "kafka-1:9093") in message
    assert "--config cleanup.policy=compact --config min.compaction.lag.ms=0" in create_command(specs[1], "b")


def test_other_topic_errors_are_not_mistaken_for_acls() -> None:
    spec = TopicSpec("crm.dlq", 6, 3, {})
    _raise_topic_errors([("crm.dlq", 36, "exists")], [spec], "b")  # TOPIC_ALREADY_EXISTS: another worker won
    with pytest.raises(Exception, match="InvalidReplicationFactor") as failed:
        _raise_topic_errors([("crm.dlq", 38, "only 1 broker")], [spec], "b")
    assert not isinstance(failed.value, ConfigError)
