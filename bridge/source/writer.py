"""Writes a batch of events and its checkpoint to Kafka in one transaction (a transactional producer).

The transactional id is fixed per deployment, so a second instance that starts fences the first: a zombie can
no longer commit, and its half-written transaction is aborted by the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced

from bridge.errors import BridgeError, KafkaUnavailable
from bridge.source.checkpoint import Checkpoint


class OutRecord(NamedTuple):
    """One record to write: topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class SourceFenced(BridgeError):
    """Another source instance took over the transactional id: this one must stop."""


class TransactionalWriter:
    """Commits (events + checkpoint) atomically. Channel pumps share one writer; a lock orders them."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        checkpoint_topic: str,
        *,
        ensure_topics: Callable[[set[str]], Awaitable[object]] | None = None,
    ) -> None:
        self._producer = producer
        self._checkpoint_topic = checkpoint_topic
        self._ensure_topics = ensure_topics
        self._known_topics: set[str] = {checkpoint_topic}
        self._lock = asyncio.Lock()
        self.transactions = 0

    async def _ensure(self, records: Sequence[OutRecord]) -> None:
        # Clusters often disable auto-creation; a transaction must not wait on a topic that will never exist.
        new = {r.topic for r in records} - self._known_topics
        if new and self._ensure_topics is not None:
            await self._ensure_topics(new)
        self._known_topics |= new

    async def commit(self, records: Sequence[OutRecord], checkpoint: Checkpoint) -> None:
        """Write every record and the checkpoint, then commit; all or nothing."""
        key, value = checkpoint.encode()
        await self._ensure(records)
        async with self._lock:
            try:
                async with self._producer.transaction():
                    for record in records:
                        await self._producer.send(record.topic, record.value, key=record.key, headers=record.headers)
                    await self._producer.send(self._checkpoint_topic, value, key=key)
            except ProducerFenced as exc:
                raise SourceFenced(f"source fenced by a newer instance: {exc}") from exc
            except KafkaError as exc:
                raise KafkaUnavailable(f"transaction failed: {exc}") from exc
            self.transactions += 1
