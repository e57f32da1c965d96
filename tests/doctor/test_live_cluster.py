"""The doctor's replication findings read from a real 3-broker cluster (RF 3, min.insync.replicas=2 by default)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.config import KafkaSettings, ProcessorSettings, Settings, TopicSettings
from bridge.doctor import Status
from bridge.doctor.kafka_checks import kafka_findings
from bridge.doctor.kafka_gather import gather_kafka
from bridge.doctor.run import changelog_prefix
from bridge.kafka.local import LocalKafkaCluster
from bridge.kafka.topics import COMPACTED, bridge_topics

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]


async def test_under_replicated_topic_warns_on_a_three_broker_cluster(kafka_cluster: LocalKafkaCluster) -> None:
    unique = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_cluster.bootstrap_servers),
        topics=TopicSettings(
            realtime=f"doctor.{unique}.realtime",
            bulk=f"doctor.{unique}.bulk",
            dlq=f"doctor.{unique}.dlq",
            results=f"doctor.{unique}.results",
            source_checkpoints=f"doctor.{unique}.checkpoints",
            partitions=1,
            replication_factor=3,
        ),
        processor=ProcessorSettings(app_id=f"doctor-{unique}"),
    )
    specs = bridge_topics(settings)
    changelog = f"{settings.processor.app_id}-dedupe-changelog"
    new = [NewTopic(s.name, 1, 1 if s.name == settings.topics.realtime else 3, topic_configs=s.config) for s in specs]
    new.append(NewTopic(changelog, 1, 3, topic_configs={**COMPACTED, "min.insync.replicas": "1"}))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(new)
        async with asyncio.timeout(10):  # creation is acknowledged before every broker's metadata has it
            while not {t.name for t in new} <= set(await admin.list_topics()):
                await asyncio.sleep(0.05)
        facts = await gather_kafka(settings, [s.name for s in specs], changelog_prefix(settings), 10.0)
    finally:
        await admin.delete_topics([t.name for t in new])
        await admin.close()

    assert facts.broker_count == 3
    findings = kafka_findings(facts, specs, changelog_prefix(settings))
    flagged = sorted((f.check, f.status) for f in findings if f.status is not Status.OK)
    realtime = f"kafka.topic[{settings.topics.realtime}]"
    assert flagged == sorted(
        [(realtime, Status.WARN), (realtime, Status.WARN), (f"kafka.topic[{changelog}]", Status.WARN)]
    )
    messages = " ".join(f.message for f in findings if f.status is Status.WARN)
    assert "replication factor 1; the configuration says 3" in messages
    assert "replication factor 1 on a 3-broker cluster" in messages
    assert "min.insync.replicas=1" in messages
