"""The Publisher SDK against a real broker: nothing lost or duplicated, nothing sent for bad input, bounded failure."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from prometheus_client import CollectorRegistry

from bridge.config import KafkaSettings, PublisherSettings, Settings, TopicSettings
from bridge.demo.dataset import CUSTOMER_TYPE, demo_events
from bridge.demo.readback import read_back
from bridge.demo.reconcile import reconcile
from bridge.errors import (
    ConfigError,
    EventTooLarge,
    KafkaUnavailable,
    MalformedEvent,
    PublishFailed,
    SchemaViolation,
    UnknownEventType,
)
from bridge.events import CloudEvent
from bridge.kafka.producer import map_kafka_error, producer_config
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.types import Lane

TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """The suite's broker (`kafka_bootstrap`), or the cluster named by BRIDGE_KAFKA__BOOTSTRAP_SERVERS."""
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        configured = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
        if not configured:
            pytest.fail("no Kafka broker: no kafka_bootstrap fixture and BRIDGE_KAFKA__BOOTSTRAP_SERVERS unset")
        return configured


def settings_for(bootstrap: str, **kafka: Any) -> Settings:
    return Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, **kafka))


async def make_topic(bootstrap: str, *, partitions: int = 3, replication_factor: int = 1) -> str:
    name = f"test.publisher.{uuid.uuid4().hex[:12]}"
    await ensure_topics(
        KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec(name, partitions, replication_factor, {})]
    )
    return name


def customer(customer_id: str = "C-1", **data: Any) -> CloudEvent:
    payload = {"customer_id": customer_id, "version": 1, "name": "Acme", **data}
    return CloudEvent(id=f"e-{uuid.uuid4().hex}", source="erp://test", type=CUSTOMER_TYPE, data=payload)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- pure: producer construction and error mapping -------------------------------------------------------------


def test_producer_is_idempotent_with_acks_all_and_bounded_timeouts() -> None:
    kafka = KafkaSettings(bootstrap_servers="b:9092", request_timeout_s=7)
    config = producer_config(kafka, PublisherSettings(linger_ms=3))
    assert config["enable_idempotence"] is True
    assert config["acks"] == "all"
    assert config["request_timeout_ms"] == 7000
    assert config["linger_ms"] == 3
    assert config["max_request_size"] > PublisherSettings().max_event_bytes


def test_sasl_ssl_settings_reach_the_producer_and_incomplete_sasl_is_a_config_error() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="bridge",
        sasl_password="s3cret",
    )
    config = producer_config(kafka, PublisherSettings())
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_password"] == "s3cret"
    assert config["ssl_context"] is not None
    with pytest.raises(ConfigError, match="SASL needs"):
        producer_config(KafkaSettings(bootstrap_servers="b", security_protocol="SASL_PLAINTEXT"), PublisherSettings())
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        producer_config(KafkaSettings(), PublisherSettings())


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [
        (KafkaConnectionError("down"), KafkaUnavailable, True),
        (RequestTimedOutError(), KafkaUnavailable, True),
        (NotEnoughReplicasError(), KafkaUnavailable, True),
        (TimeoutError(), KafkaUnavailable, True),
        (MessageSizeTooLargeError(), EventTooLarge, False),
        (TopicAuthorizationFailedError(), PublishFailed, False),
        (ValueError("odd"), PublishFailed, False),
    ],
)
def test_aiokafka_errors_map_to_bridge_errors_with_retryable_as_data(
    error: BaseException, expected: type[Exception], retryable: bool
) -> None:
    mapped = map_kafka_error(error)
    assert type(mapped) is expected
    assert mapped.retryable is retryable
    assert type(error).__name__ in mapped.message


# --- real broker ------------------------------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.slow
async def test_round_trip_of_10000_events_loses_and_duplicates_nothing(bootstrap: str) -> None:
    topic = await make_topic(bootstrap)
    events = list(demo_events(10_000, run_id=f"rt-{uuid.uuid4().hex[:6]}"))
    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    async with Publisher(settings_for(bootstrap), metrics=metrics) as pub:
        results = []
        for start in range(0, len(events), 1_000):
            results += await pub.publish_many(events[start : start + 1_000], topic=topic)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert len({(r.partition, r.offset) for r in results}) == len(events)
    received = await read_back(bootstrap, [topic])
    report = reconcile(events, received)
    assert report.ok, report
    assert report.read_back == 10_000
    by_id = {e.id: e for e in received}
    sample = by_id[events[1].id]
    assert sample.sobject == "Opportunity"
    assert sample.partitionkey == f"Opportunity:{events[1].data['deal_id']}"
    assert sample.sequence == events[1].data["version"]
    assert registry.get_sample_value("bridge_events_total", {"topic": topic, "outcome": "published"}) == 10_000
    assert registry.get_sample_value("bridge_publish_latency_seconds_count") == 10_000


@pytest.mark.kafka
async def test_publish_returns_after_the_ack_so_the_event_is_readable_at_once(bootstrap: str) -> None:
    topic = await make_topic(bootstrap, partitions=1)
    event = customer("C/1?%#'\"ü 日本")
    async with Publisher(settings_for(bootstrap)) as pub:
        result = await pub.publish(event, topic=topic)
        received = await read_back(bootstrap, [topic], timeout_s=10)
    assert (result.topic, result.partition, result.offset) == (topic, 0, 0)
    [back] = received
    assert back.id == event.id
    assert back.data == event.data
    assert back.externalid == "C/1?%#'\"ü 日本"
    assert back.partitionkey == "Account:C/1?%#'\"ü 日本"


@pytest.mark.kafka
async def test_events_go_to_the_topic_named_in_their_schema(bootstrap: str) -> None:
    async with Publisher(settings_for(bootstrap)) as pub:
        realtime = await pub.publish(customer(f"C-{uuid.uuid4().hex}"))  # customers are real-time by default
        bulk = await pub.publish(customer(f"C-{uuid.uuid4().hex}")._replace(lane=Lane.BULK))
    # A person's edit never queues behind a batch sync's events in the processor: topics of their own.
    assert realtime.topic == "domain.erp.customer.realtime"
    assert bulk.topic == "domain.erp.customer"
    assert realtime.offset is not None


def _bad_events() -> list[tuple[CloudEvent, type[Exception], str]]:
    good = customer()
    return [
        (good._replace(type="com.acme.crm.unicorn.upserted"), UnknownEventType, "unknown event type"),
        (customer(version="seven"), SchemaViolation, r"\$\.version: must be integer"),
        (customer(billing_address={"city": 42}), SchemaViolation, r"\$\.billing_address\.city"),
        (customer(name="x" * 10_000_000), EventTooLarge, "10000.* bytes; the limit is"),
        (customer("C\x00\x1b[31m"), SchemaViolation, "control characters"),
        (customer("x" * 10_000), SchemaViolation, r"\$\.customer_id: must be shorter"),
        (good._replace(id="i" * 10_000), MalformedEvent, "'id' must be shorter"),
        (good._replace(id="line\nbreak"), MalformedEvent, "'id' must not contain control characters"),
        (good._replace(id="\udcff"), MalformedEvent, "UTF-8"),
        (good._replace(source=""), MalformedEvent, "'source' must be longer"),
        (good._replace(data=["not", "an", "object"]), SchemaViolation, r"\$: must be object"),
    ]


@pytest.mark.kafka
async def test_bad_events_give_clear_errors_and_nothing_is_sent(bootstrap: str) -> None:
    topic = await make_topic(bootstrap, partitions=1)
    sentinel = customer("sentinel")
    async with Publisher(settings_for(bootstrap)) as pub:
        for event, error, message in _bad_events():
            with pytest.raises(error, match=message):
                await pub.publish(event, topic=topic)
        await pub.publish(sentinel, topic=topic)
    received = await read_back(bootstrap, [topic], timeout_s=10)
    assert [e.id for e in received] == [sentinel.id]


@pytest.mark.kafka
async def test_publish_many_reports_per_event_and_sends_only_the_valid_ones(bootstrap: str) -> None:
    topic = await make_topic(bootstrap)
    bad = [event for event, _, _ in _bad_events()]
    good = [customer(f"C-{n}") for n in range(5)]
    mixed = [good[0], *bad[:3], *good[1:], bad[3]]
    async with Publisher(settings_for(bootstrap)) as pub:
        results = await pub.publish_many(mixed, topic=topic)
    assert [r.ok for r in results] == [True, False, False, False, True, True, True, True, False]
    assert [r.event_id for r in results] == [e.id for e in mixed]
    assert isinstance(results[1].error, UnknownEventType)
    received = await read_back(bootstrap, [topic], timeout_s=10)
    assert reconcile(good, received).ok


@pytest.mark.kafka
async def test_unreachable_broker_is_kafka_unavailable_quickly_not_a_hang() -> None:
    settings = settings_for(f"127.0.0.1:{closed_port()}", request_timeout_s=5)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable) as info:
        async with Publisher(settings):
            pass
    assert info.value.retryable
    assert time.monotonic() - started < 6


async def test_publisher_without_start_or_with_unknown_schema_dir_fails_clearly(tmp_path: Any) -> None:
    pub = Publisher(Settings())
    with pytest.raises(RuntimeError, match="async with"):
        pub.prepare(customer())
    assert not await pub.ready()
    assert "stopped" in repr(pub)
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        topics=TopicSettings(),
        processor={"schemas_dir": tmp_path},
    )
    with pytest.raises(ConfigError, match="cannot load schema"):
        async with Publisher(settings):
            pass


@pytest.mark.kafka
async def test_ready_is_true_with_a_live_broker(bootstrap: str) -> None:
    async with Publisher(settings_for(bootstrap)) as pub:
        assert await pub.ready()
        assert "started" in repr(pub)


class _Background:
    """Publishes chunks of events until the fault is over, then a few chunks more: the fault always falls in the
    middle of the stream, however fast this machine publishes (a fixed sleep did not guarantee it)."""

    def __init__(self, pub: Publisher, events: Iterator[CloudEvent], topic: str, chunk: int = 200) -> None:
        self.pub, self.events, self.topic, self.chunk = pub, events, topic, chunk
        self.sent: list[CloudEvent] = []
        self.results: list[Any] = []
        self.started = asyncio.Event()
        self.fault_over = asyncio.Event()

    async def run(self, chunks_after: int = 5) -> None:
        while chunks_after > 0:
            batch = list(itertools.islice(self.events, self.chunk))
            assert batch, "the event pool ran out before the fault was over"
            self.sent += batch
            self.results += await self.pub.publish_many(batch, topic=self.topic)
            if len(self.sent) >= 1_000:
                self.started.set()
            if self.fault_over.is_set():
                chunks_after -= 1
            await asyncio.sleep(0.01)

    async def around(self, fault: Callable[[], object]) -> None:
        task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.started.wait(), timeout=60)
        try:
            await asyncio.to_thread(fault)
        finally:
            self.fault_over.set()
        await task


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_broker_restart_mid_publish_loses_and_duplicates_nothing(local_kafka_node: Any) -> None:
    bootstrap = local_kafka_node.bootstrap_servers
    topic = await make_topic(bootstrap)
    pool = demo_events(1_000_000, run_id=f"restart-{uuid.uuid4().hex[:6]}")
    async with Publisher(settings_for(bootstrap, request_timeout_s=60, delivery_timeout_s=120)) as pub:
        background = _Background(pub, pool, topic)
        await background.around(local_kafka_node.restart)
    assert all(r.ok for r in background.results), [r.error for r in background.results if not r.ok][:3]
    report = reconcile(background.sent, await read_back(bootstrap, [topic], timeout_s=60))
    assert report.ok, report
    assert report.read_back == len(background.sent)


@pytest.mark.kafka
@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_killing_one_of_three_brokers_mid_publish_loses_nothing(kafka_cluster: Any) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = await make_topic(bootstrap, partitions=3, replication_factor=3)
    pool = demo_events(1_000_000, run_id=f"kill-{uuid.uuid4().hex[:6]}")
    async with Publisher(settings_for(bootstrap, request_timeout_s=60, delivery_timeout_s=120)) as pub:
        background = _Background(pub, pool, topic)
        await background.around(lambda: kafka_cluster.kill(1))
    assert all(r.ok for r in background.results), [r.error for r in background.results if not r.ok][:3]
    report = reconcile(background.sent, await read_back(bootstrap, [topic], timeout_s=60))
    assert not report.lost, report.lost[:5]
    assert not report.altered
    assert report.ok, report
