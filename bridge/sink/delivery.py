"""The sink's outcomes onto Kafka: results and dead letters produced with acks=all, each record settled (and
so committable) only once its outcome is acknowledged (invariant 2).

    delivery = Delivery(producer, partitions, metrics, topics, stats)
    if not await delivery.deliver(decisions):     # not acknowledged: the caller sends the records again
        ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from bridge.config import TopicSettings
from bridge.metrics import Metrics
from bridge.processing.records import Origin
from bridge.processing.routing import DeadLetter, dead_letter_message
from bridge.sink.decide import Deliver
from bridge.sink.items import Headers
from bridge.sink.messages import DLQ_STAGE
from bridge.sink.partitions import Partitions
from bridge.types import Outcome as Accounted

_log = logging.getLogger(__name__)
_YIELD_EVERY = 500


@dataclass(slots=True)
class SinkStats:
    """What one run did (the metrics say the same, for people)."""

    read: int = 0
    written: int = 0
    dead_lettered: int = 0
    resent: int = 0
    undecodable: int = 0
    parent_refused: int = 0


class Delivery:
    """Produces outcomes and settles their records; shared by the sink's batch tasks."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        partitions: Partitions,
        metrics: Metrics,
        topics: TopicSettings,
        stats: SinkStats,
    ) -> None:
        self._producer = producer
        self._partitions = partitions
        self._metrics = metrics
        self._topics = topics
        self._stats = stats

    def __repr__(self) -> str:
        return f"Delivery(results={self._topics.results!r}, dlq={self._topics.dlq!r})"

    async def deliver(self, delivers: Sequence[Deliver]) -> bool:
        """Produce every outcome and wait for the acknowledgements; False if they were not all acknowledged
        (nothing is settled then: the caller sends the records again, and an upsert again is harmless)."""
        if not delivers:
            return True
        try:
            futures = []
            for n, deliver in enumerate(delivers, start=1):
                message = deliver.message
                headers = list(message.headers)
                futures.append(
                    await self._producer.send(message.topic, message.value, key=message.key, headers=headers)
                )
                if n % _YIELD_EVERY == 0:  # a Bulk API job's outcomes: let heartbeats and other batches run
                    await asyncio.sleep(0)
            await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            _log.warning("outcomes of %d records not acknowledged: %r", len(delivers), exc)
            return False
        for deliver in delivers:
            self._account(deliver)
        return True

    async def dead_letter_undecodable(
        self, record: ConsumerRecord[bytes, bytes], headers: Headers, exc: Exception, retry_s: float
    ) -> None:
        """A record of a write topic that is not a write: to the DLQ, settled once that is acknowledged."""
        letter = DeadLetter(
            stage=DLQ_STAGE,
            reason="malformed_write",
            detail=f"not a write record: {exc!r}",
            origin=Origin(record.topic, record.partition, record.offset),
            key=record.key,
            payload=record.value or b"",
            headers=headers,
        )
        message = dead_letter_message(letter, self._topics)
        while True:  # settles only once the dead letter is acknowledged; a stop abandons it (redone on restart)
            try:
                await self._producer.send_and_wait(message.topic, message.value, key=message.key)
                break
            except (KafkaError, OSError, TimeoutError) as err:
                _log.warning("dead letter of an undecodable write not acknowledged: %r", err)
                await asyncio.sleep(retry_s)
        self._partitions.settle_offset(record.topic, record.partition, record.offset)
        self._metrics.events.labels(topic=record.topic, outcome=Accounted.DEAD_LETTERED.value).inc()
        self._metrics.dead_letters.labels(stage=DLQ_STAGE, reason="malformed_write").inc()

    def _account(self, deliver: Deliver) -> None:
        item = deliver.item
        self._partitions.settle(item)
        self._metrics.events.labels(topic=item.topic, outcome=deliver.accounted.value).inc()
        if deliver.accounted is Accounted.WRITTEN:
            self._stats.written += 1
        else:
            self._stats.dead_lettered += 1
            self._metrics.dead_letters.labels(stage=DLQ_STAGE, reason=deliver.reason).inc()
