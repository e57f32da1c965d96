"""Batches of the processor's faust stream that close at once when real-time work arrives.

    async for events in take_batches(stream, 1_000, within_s=2.0, urgent=lambda event: True):
        ...   # faust acknowledges the batch's events when the loop asks for the next batch

faust's `Stream.take_events(max_, within)` closes a batch when it holds `max_` events or every `within` seconds:
a person's edit arriving in a quiet moment waits up to the whole coalescing window (2 s by default) before the
processor even looks at it. This is the same buffer (same acknowledgement contract: a batch's events are acked
only after the consumer has finished with it, so offsets never pass unprocessed events), with one more way to
close a batch: an event for which `urgent(event)` is true. Bulk traffic still coalesces over the whole window.
Written against faust-streaming's stream API (`add_processor`, `_enable_passive`, `wait_for_stopped`, `ack`),
which is what `take_events` itself uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any


def take_batches(
    stream: Any, max_records: int, *, within_s: float, urgent: Callable[[Any], bool]
) -> AsyncIterator[list[Any]]:
    """`stream.take_events(max_records, within=within_s)`, closing a batch early on an urgent event."""
    generator = _take(stream, max_records, within_s, urgent)
    stream._active_agens.add(generator)
    return generator


class _Batch:
    """The open batch: events gathered by the stream's processor `add`, closed when full or urgent."""

    def __init__(self, stream: Any, max_records: int, urgent: Callable[[Any], bool]) -> None:
        self.stream, self.max_records, self.urgent = stream, max_records, urgent
        self.events: list[Any] = []
        self.full = asyncio.Event()  # the batch must close: it holds `max_records`, or an urgent event
        self.consumed = asyncio.Event()
        self.consuming: asyncio.Future[None] | None = None

    async def add(self, value: Any) -> Any:
        """The stream's processor: one event into the batch (waits while a handed-out batch is in use)."""
        if self.consuming is not None:  # the batch is being handed out: wait until it is done with
            try:
                await self.consuming
            finally:
                self.consuming = None
        event = self.stream.current_event
        if event is None:
            raise RuntimeError("take buffer found current_event is None")
        self.events.append(event)
        if len(self.events) >= self.max_records:
            self.full.set()
            self.consumed.clear()
            await self.stream.wait(self.consumed)  # never more than `max_records` in one batch
        elif self.urgent(event):
            self.full.set()
        return value

    async def release(self) -> None:
        """The consumer has finished with the handed-out batch: ack its events and open the next one."""
        batch = list(self.events)
        self.events.clear()
        for event in batch:
            await self.stream.ack(event)
        if self.consuming is not None and not self.consuming.done():
            self.consuming.set_result(None)
        self.full.clear()
        self.consumed.set()


async def _take(
    stream: Any, max_records: int, within_s: float, urgent: Callable[[Any], bool]
) -> AsyncGenerator[list[Any], None]:
    batch = _Batch(stream, max_records, urgent)
    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked here, once the consumer has finished with the batch
    stream.add_processor(batch.add)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(batch.full, timeout=within_s)
            if not batch.events:
                continue
            batch.consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(batch.events)
            finally:
                await batch.release()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(batch.add)
