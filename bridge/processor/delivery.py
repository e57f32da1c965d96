"""Producing a batch's records with aiokafka's batch API: one record batch per partition, one future per batch.

Through faust's `Producer.send` every record costs an aiokafka `send` (its own future, the partitioner, the
accumulator) and faust's wrapper; the processor produces two records per event (the write and its key's
changelog state), which took 6.4% of a worker's py-spy samples (3.8% this way). Here the records of a call are
appended to one `BatchBuilder` per partition (in order, so per-key order holds) and each builder is handed to the
producer whole. Keyed records without a partition go where the producer's default partitioner (murmur2, as the
Java client) would put them, so parents and children still share a partition.

    errors = await send_batched(kafka, records, max_record_bytes=1_000_000)   # per record: None or the exception
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from bridge.processing.routing import Outbound

_partitioner = DefaultPartitioner()

TopicPartition = tuple[str, int]


class _Batches:
    """Open builders by partition, and the records (by index) each builder and each sent batch carries."""

    def __init__(self, kafka: AIOKafkaProducer) -> None:
        self.kafka = kafka
        self.open: dict[TopicPartition, tuple[Any, list[int]]] = {}
        self.sent: list[tuple[asyncio.Future[Any], list[int]]] = []
        self.failed: dict[int, BaseException] = {}

    def append(self, tp: TopicPartition, index: int, record: Outbound) -> bool:
        """Add `record` to the partition's open builder; False when it is full (or there is none)."""
        opened = self.open.get(tp)
        if opened is None:
            return False
        builder, members = opened
        if builder.append(key=record.key, value=record.value, timestamp=None, headers=list(record.headers)) is None:
            return False
        members.append(index)
        return True

    async def flush(self, tp: TopicPartition) -> None:
        """Hand the partition's open builder to the producer (it waits while the partition's queue is full)."""
        builder, members = self.open.pop(tp)
        if not members:
            return
        try:
            self.sent.append((await self.kafka.send_batch(builder, tp[0], partition=tp[1]), members))
        except Exception as exc:  # noqa: BLE001 - reported per record; the caller retries them
            self.failed.update(dict.fromkeys(members, exc))

    async def add(self, tp: TopicPartition, index: int, record: Outbound) -> None:
        if self.append(tp, index, record):
            return
        if tp in self.open:
            await self.flush(tp)
        self.open[tp] = (self.kafka.create_batch(), [])
        if not self.append(tp, index, record):  # an empty batch takes a record of any size: never lose one quietly
            raise MessageSizeTooLargeError(f"a record of {_size(record)} bytes does not fit an empty batch")


async def _partition(kafka: AIOKafkaProducer, record: Outbound, known: dict[str, list[int]]) -> int:
    if record.partition is not None:
        return record.partition
    partitions = known.get(record.topic)
    if partitions is None:
        partitions = known[record.topic] = sorted(await kafka.partitions_for(record.topic))
    return int(_partitioner(record.key, partitions, partitions))


def _size(record: Outbound) -> int:
    return len(record.key or b"") + len(record.value) + sum(len(name) + len(value) for name, value in record.headers)


async def send_batched(
    kafka: AIOKafkaProducer, records: Sequence[Outbound], *, max_record_bytes: int
) -> list[BaseException | None]:
    """Produce `records` and wait for every acknowledgement; per record, None or the exception that failed it.

    A record over `max_record_bytes` (the producer's `max_request_size`, which `send` would enforce) fails
    with `MessageSizeTooLargeError` and is not sent."""
    batches, known = _Batches(kafka), dict[str, list[int]]()
    for index, record in enumerate(records):
        if (size := _size(record)) > max_record_bytes:
            batches.failed[index] = MessageSizeTooLargeError(
                f"a record of {size} bytes; the limit is {max_record_bytes}"
            )
            continue
        try:
            await batches.add((record.topic, await _partition(kafka, record, known)), index, record)
        except Exception as exc:  # noqa: BLE001 - reported per record; the caller retries them
            batches.failed[index] = exc
    for tp in list(batches.open):
        await batches.flush(tp)
    outcomes = await asyncio.gather(*(ack for ack, _ in batches.sent), return_exceptions=True)
    errors: list[BaseException | None] = [batches.failed.get(index) for index in range(len(records))]
    for (_, members), outcome in zip(batches.sent, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            for index in members:
                errors[index] = outcome
    return errors
