"""Read topics back from the beginning to their current end, decoding every record as a CloudEvent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.errors import EventError, KafkaUnavailable
from bridge.events.envelope import CloudEvent, decode_kafka

Progress = Callable[[int], None]


async def read_back(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    timeout_s: float = 120.0,
    on_progress: Progress | None = None,
) -> list[CloudEvent]:
    """Every event on `topics`, up to the end offsets seen at the start. Undecodable records raise."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, max_partition_fetch_bytes=4_194_304
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            return await _drain(consumer, topics, on_progress)
    except TimeoutError as exc:
        raise KafkaUnavailable(f"could not read {list(topics)} to the end within {timeout_s:g} s") from exc
    finally:
        await consumer.stop()


async def _drain(consumer: AIOKafkaConsumer, topics: Sequence[str], on_progress: Progress | None) -> list[CloudEvent]:
    partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(await _partitions(consumer, topic))]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    end = await consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if end[tp] > 0}
    events: list[CloudEvent] = []
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in batches.items():
            for record in records:
                if record.offset < end[tp]:
                    events.append(_decode(record.key, record.value, record.headers, tp, record.offset))
            if records and records[-1].offset + 1 >= end[tp]:
                remaining.discard(tp)
        if on_progress is not None:
            on_progress(len(events))
    return events


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()  # aiokafka has no public metadata refresh
        await asyncio.sleep(0.1)
    return set()


def _decode(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    tp: TopicPartition,
    offset: int,
) -> CloudEvent:
    try:
        return decode_kafka(key, value, headers)
    except EventError as exc:
        raise EventError(f"{tp.topic}[{tp.partition}]@{offset}: {exc}") from exc
