"""The local broker: it really serves, survives stale state, and the 3-node cluster tolerates one lost node."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bridge.kafka.jars import cache_dir, fetch_jars
from bridge.kafka.local import LocalKafka, LocalKafkaCluster

pytestmark = pytest.mark.kafka


async def roundtrip(bootstrap: str, topic: str, value: bytes) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        record = await consumer.getone()
        return bytes(record.value or b"")
    finally:
        await consumer.stop()


async def test_session_broker_round_trips_a_record(kafka_bootstrap: str, new_topic) -> None:
    topic = await new_topic("local")
    assert await roundtrip(kafka_bootstrap, topic, b"hello") == b"hello"


def test_fetch_is_cached_and_complete() -> None:
    lib = fetch_jars()
    assert (lib / ".complete").exists()
    assert any(lib.glob("kafka_2.13-*.jar"))
    assert any(lib.glob("log4j-slf4j-impl-*.jar"))
    assert fetch_jars() == lib


async def test_restart_keeps_data(local_kafka_node: LocalKafka) -> None:
    topic = f"restart-{uuid.uuid4().hex[:6]}"
    assert await roundtrip(local_kafka_node.bootstrap_servers, topic, b"before") == b"before"
    local_kafka_node.restart()
    assert await roundtrip(local_kafka_node.bootstrap_servers, topic, b"after") == b"before"


def test_stale_state_does_not_break_the_next_start(tmp_path: Path) -> None:
    # A killed run leaves its folder and holds a port; the next broker picks new ports and a fresh folder.
    first = LocalKafka().start()
    stale_dir = first.run_dir
    assert stale_dir is not None
    for node in first.nodes.values():
        node.kill()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", int(first.bootstrap_servers.rsplit(":", 1)[1])))
    try:
        with LocalKafka() as second:
            assert second.run_dir != stale_dir
            assert second.bootstrap_servers != first.bootstrap_servers
    finally:
        blocker.close()
        first.stop()
    assert not stale_dir.exists()


def test_cli_up_status_down_round_trip(tmp_path: Path) -> None:
    env = {**os.environ, "BRIDGE_KAFKA_CACHE": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "4.1.1").symlink_to(cache_dir() / "4.1.1")  # reuse the fetched jars
    cli = [str(Path(sys.executable).parent / "crm-bridge")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, "kafka", *args], env=env, capture_output=True, text=True, timeout=180)

    assert run("status").returncode == 1
    up = run("up", "--print-env")
    assert up.returncode == 0, up.stderr
    address = up.stdout.strip().split("=", 1)[1]
    try:
        assert run("up").stdout.startswith(f"Kafka already running at {address}")
        assert run("status").returncode == 0
        state = json.loads((tmp_path / "cache" / "run" / "state.json").read_text())
        assert state["bootstrap_servers"] == address
    finally:
        down = run("down")
    assert down.returncode == 0
    assert run("status").returncode == 1


@pytest.mark.cluster
@pytest.mark.slow
async def test_cluster_survives_one_lost_node_and_refuses_writes_without_quorum(
    kafka_cluster: LocalKafkaCluster,
) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = f"rf3-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 3, topic_configs={"min.insync.replicas": "2"})])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=5000
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"all-up")
        kafka_cluster.kill(3)
        await asyncio.wait_for(producer.send_and_wait(topic, b"one-down"), 30)
        kafka_cluster.kill(2)
        # One replica left, below min.insync.replicas=2: the broker must not acknowledge (it may refuse or stall).
        with pytest.raises((KafkaError, TimeoutError)):
            await asyncio.wait_for(producer.send_and_wait(topic, b"two-down"), 10)
    finally:
        kafka_cluster.restart(2)
        kafka_cluster.restart(3)
        await producer.stop()
