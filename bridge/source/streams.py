"""Stream plumbing of the source's channel pumps: read-ahead grouping, a watchdog, and leaving a stream on request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from bridge.pubsub.errors import PubSubUnavailable

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _End:
    """The end of a read-ahead stream: `error` is what ended it (None when it simply finished)."""

    error: Exception | None


async def grouped(stream: AsyncIterator[T], max_items: int) -> AsyncGenerator[list[T], None]:
    """Read ahead of the caller and hand over everything that arrived meanwhile (at most `max_items`) as one list.

    A Kafka transaction costs about the same for 100 events as for 1,000, so while one group is being committed
    the next batches queue up and are committed together (group commit). The queue bound keeps flow control:
    the stream is not read further while `max_items` wait. An error ends the groups after the items before it.
    """
    queue: asyncio.Queue[T | _End] = asyncio.Queue(maxsize=max_items)

    async def read_ahead() -> None:
        try:
            async for item in stream:
                await queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, in order, and raised there
            await queue.put(_End(exc))
        else:
            await queue.put(_End(None))

    reader = asyncio.create_task(read_ahead())
    try:
        while True:
            group = [await queue.get()]
            while not queue.empty() and len(group) < max_items:
                group.append(queue.get_nowait())
            items = [item for item in group if not isinstance(item, _End)]
            if items:
                yield items
            end = next((item for item in group if isinstance(item, _End)), None)
            if end is not None:
                if end.error is not None:
                    raise end.error
                return
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def raise_if_cancelled() -> None:
    """Re-raise a stop request that was turned into an ordinary outcome on the way.

    Python 3.11's `asyncio.wait_for` returns the inner result (or raises its error) when the inner await finished
    in the same loop iteration as the cancel, and a stream the server just closed does exactly that: the pump
    would then back off and resubscribe forever instead of stopping.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def watched(stream: AsyncIterator[T], watchdog_s: float) -> AsyncIterator[T]:
    """Iterate a stream, failing over to a resubscribe when nothing arrives within the watchdog period."""
    iterator = aiter(stream)
    try:
        while True:
            raise_if_cancelled()
            try:
                item = await asyncio.wait_for(anext(iterator), timeout=watchdog_s)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise PubSubUnavailable(f"no message within {watchdog_s} s: resubscribing") from None
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def until_set(items: AsyncIterator[T], event: asyncio.Event) -> AsyncIterator[T]:
    """Iterate `items` until `event` is set; the item being awaited then is abandoned, never one being handled
    (the caller's work on an item is not raced, so a commit in flight always finishes)."""
    iterator = aiter(items)
    waiter = asyncio.ensure_future(event.wait())
    step: asyncio.Future[T] | None = None
    try:
        while not event.is_set():
            step = asyncio.ensure_future(anext(iterator))
            await asyncio.wait([step, waiter], return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            step = None
            yield item
    finally:
        # Never leave a read of `items` running: its generator would be closed later by the garbage collector,
        # from a task nobody awaits, while the read still runs.
        for pending in (step, waiter):
            if pending is not None and not pending.done():
                pending.cancel()
        await asyncio.gather(*(f for f in (step, waiter) if f is not None), return_exceptions=True)
