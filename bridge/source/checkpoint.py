"""Replay-id checkpoints, stored on a compacted Kafka topic inside the same transaction as the events.

One record per channel (key = channel name); the newest committed record wins. Because the checkpoint and the
events it covers commit together, a `read_committed` reader never sees events whose checkpoint was lost, and a
restart resumes exactly after the last committed replay id.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.errors import MalformedEvent


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a channel's subscription stands: the last replay id written, and the newest commit time seen."""

    channel: str
    replay_id: bytes
    commit_timestamp_ms: int

    def encode(self) -> tuple[bytes, bytes]:
        """Key and value of the checkpoint record."""
        value = {"replayId": self.replay_id.hex(), "commitTimestamp": self.commit_timestamp_ms}
        return self.channel.encode(), orjson.dumps(value)

    @classmethod
    def decode(cls, key: bytes | None, value: bytes | None) -> Checkpoint:
        """Parse a checkpoint record; a foreign record is a MalformedEvent."""
        try:
            data = orjson.loads(value or b"")
            return cls((key or b"").decode(), bytes.fromhex(data["replayId"]), int(data["commitTimestamp"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise MalformedEvent(f"not a checkpoint record: {exc}") from exc


async def load_checkpoints(bootstrap_servers: str, topic: str) -> dict[str, Checkpoint]:
    """Read the whole checkpoint topic (committed records only) and keep the newest per channel."""
    assigned = [TopicPartition(topic, p) for p in await _partitions(bootstrap_servers, topic)]
    if not assigned:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        return await _read_until(consumer, end)
    finally:
        await consumer.stop()


async def _partitions(bootstrap_servers: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code", 0) != 0:
        return []
    return sorted(p["partition"] for p in described["partitions"])


async def _read_until(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> dict[str, Checkpoint]:
    found: dict[str, Checkpoint] = {}
    remaining = {tp for tp, offset in end.items() if offset > 0}
    while remaining:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                checkpoint = Checkpoint.decode(record.key, record.value)
                found[checkpoint.channel] = checkpoint
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
    return found
