"""`send_batched` against the real broker: where records land, their order, and per-record failures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from bridge.processing.routing import Outbound
from bridge.processor.delivery import send_batched

NewTopic = Callable[..., Awaitable[str]]


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    # Small batches, so a call spans several batches per partition.
    kafka = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_batch_size=2_048)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found: list[tuple[int, bytes, bytes]] = []
        while len(found) < count:
            batch = await consumer.getmany(timeout_ms=5_000)
            assert batch, f"only {len(found)} of {count} records readable"
            found += [(m.partition, m.key, m.value) for records in batch.values() for m in records]
        return found
    finally:
        await consumer.stop()


async def test_keyed_records_land_where_the_default_partitioner_puts_them_in_order(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic("delivery", partitions=4)
    records = [Outbound(topic, f"Account:C-{n % 37}".encode(), f"v{n:05d}".encode() * 20) for n in range(600)]
    assert await send_batched(producer, records, max_record_bytes=8_192) == [None] * len(records)
    # The same keys through the producer's own `send`: the partition each key must map to.
    expected = {}
    for key in {r.key for r in records}:
        assert key is not None
        expected[key] = (await (await producer.send(f"{topic}", b"probe", key=key))).partition
    found = [
        (p, k, v) for p, k, v in await _read(kafka_bootstrap, topic, len(records) + len(expected)) if v != b"probe"
    ]
    assert sorted(v for _, _, v in found) == sorted(r.value for r in records)
    assert all(partition == expected[key] for partition, key, _ in found)
    for key in expected:  # per key, the order they were handed over
        assert [v for _, k, v in found if k == key] == [r.value for r in records if r.key == key]


async def test_explicit_partitions_are_kept_and_headers_travel(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic("delivery", partitions=3)
    records = [Outbound(topic, b"same-key", f"{n}".encode(), (("h", b"x"),), n % 3) for n in range(30)]
    assert await send_batched(producer, records, max_record_bytes=8_192) == [None] * 30
    found = await _read(kafka_bootstrap, topic, 30)
    assert sorted((p, v) for p, _, v in found) == sorted((n % 3, f"{n}".encode()) for n in range(30))


async def test_a_record_too_large_fails_alone_and_one_bigger_than_a_batch_still_goes(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic("delivery", partitions=2)
    records = [
        Outbound(topic, b"a", b"small"),
        Outbound(topic, b"b", b"x" * 5_000),  # more than a batch (2 KiB), less than the limit: a batch of its own
        Outbound(topic, b"c", b"y" * 20_000),  # more than the limit: refused, as `send` refuses it
        Outbound(topic, b"d", b"small too"),
    ]
    errors = await send_batched(producer, records, max_record_bytes=8_192)
    assert [errors[0], errors[1], errors[3]] == [None, None, None]
    assert isinstance(errors[2], MessageSizeTooLargeError)
    found = await _read(kafka_bootstrap, topic, 3)
    assert sorted(k for _, k, _ in found) == [b"a", b"b", b"d"]


async def test_a_record_for_a_partition_that_does_not_exist_fails_alone(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic("delivery", partitions=2)
    records = [
        Outbound(topic, b"a", b"1", (), 0),
        Outbound(topic, b"b", b"2", (), 7),
        Outbound(topic, b"c", b"3", (), 1),
    ]
    errors = await send_batched(producer, records, max_record_bytes=8_192)
    assert errors[0] is None
    assert errors[2] is None
    assert isinstance(errors[1], Exception)  # aiokafka: "Unrecognized partition"; `deliver` retries it
    assert sorted(k for _, k, _ in await _read(kafka_bootstrap, topic, 2)) == [b"a", b"c"]


class _RefusingBuilder:
    def append(self, **_: object) -> None:
        return None  # as a closed or full builder answers


class _KafkaWithRefusingBatches:
    def create_batch(self) -> _RefusingBuilder:
        return _RefusingBuilder()


async def test_a_record_no_batch_takes_gets_an_error_rather_than_being_dropped() -> None:
    records = [Outbound("t", b"k", b"v", (), 0)]
    errors = await send_batched(_KafkaWithRefusingBatches(), records, max_record_bytes=1_000)
    assert isinstance(errors[0], MessageSizeTooLargeError)
