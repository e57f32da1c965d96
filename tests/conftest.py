"""Suite-wide fixtures: a real Apache Kafka broker (started once per session), a 3-node cluster and fresh topics.

`BRIDGE_KAFKA__BOOTSTRAP_SERVERS` points the suite at an existing cluster instead; then nothing is started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.kafka.local import LocalKafka, LocalKafkaCluster

NewTopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of the session's broker."""
    external = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with LocalKafka() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[LocalKafkaCluster]:
    """Three brokers: replication factor 3, min.insync.replicas=2; tests may kill and restart nodes."""
    with LocalKafkaCluster(size=3) as cluster:
        yield cluster


@pytest.fixture
def local_kafka_node() -> Iterator[LocalKafka]:
    """A broker of the test's own, which it may restart or kill."""
    with LocalKafka() as broker:
        yield broker


@pytest.fixture
async def new_topic(kafka_bootstrap: str) -> AsyncIterator[NewTopicFactory]:
    """Create uniquely named topics for one test; they are deleted afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(prefix: str = "test", partitions: int = 1, replication_factor: int = 1, **config: str) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        await admin.create_topics([NewTopic(name, partitions, replication_factor, topic_configs=config)])
        created.append(name)
        return name

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()
