"""One Subscribe stream of the emulator's Pub/Sub API, held to the documented stream rules.

- The first FetchRequest names the topic and the replay start: "replay_preset and replay_id values are only consumed
  as part of the first FetchRequest"; a later request's replay fields are ignored, and a later `topic_name` that
  differs fails with INVALID_ARGUMENT (`subscription.fetch.topic.mismatch`).
- `num_requested` must be above zero (`subscription.fetch.requested.events.invalid`); credits add up and "If a client
  requests more than 100 events, the server considers the number of requested events to be 100".
- CUSTOM "must be set with a valid replay_id": none is `…replayid.validation.failed`, a malformed, unknown or
  expired one is INVALID_ARGUMENT with `…replayid.corrupted`.
- With nothing to deliver, an empty FetchResponse carrying `latest_replay_id` is sent "within 270 seconds"
  (`keepalive_s`); with no pending credit, "The client must send a new FetchRequest within 60 seconds" or the
  stream closes (`idle_close_s`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bridge.emulator.pubsub_contract import (
    AUTH_ERROR_MESSAGE,
    MAX_PENDING,
    ChangeFeed,
    FeedEvent,
    PubSubFaults,
    StreamTimes,
    abort,
    new_rpc_id,
    replay_bytes,
)
from bridge.pubsub._pb import pubsub_api_pb2 as pb

_Error = tuple[grpc.StatusCode, str, str]
_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_NUM_REQUESTED_INVALID: _Error = (
    _INVALID,
    "subscription.fetch.requested.events.invalid",
    "The number of requested events (num_requested) must be greater than zero.",
)


class _Credit:
    """Outstanding `num_requested`, capped at 100, fed by the client's later FetchRequests."""

    def __init__(self, first: int) -> None:
        self.pending = min(MAX_PENDING, first)
        self.changed = asyncio.Event()
        self.error: _Error | None = None

    def add(self, n: int) -> None:
        self.pending = min(MAX_PENDING, self.pending + n)
        self.changed.set()

    def fail(self, error: _Error) -> None:
        self.error = error
        self.changed.set()


class SubscribeStream:
    """Serves one Subscribe call: `async for response in SubscribeStream(...).run(requests, context)`."""

    def __init__(self, feed: ChangeFeed, rules: StreamTimes, faults: PubSubFaults) -> None:
        self._feed = feed
        self._rules = rules
        self._faults = faults

    async def run(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        """Check the first request, then deliver until the client stops, an error, or the idle close."""
        requests = aiter(request_iterator)
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            return
        position = await self._start_position(first, context)
        credit = _Credit(first.num_requested)
        reader = asyncio.create_task(self._read_requests(requests, first.topic_name, credit))
        self._faults.streams_opened += 1
        try:
            async for response in self._deliver(first.topic_name, position, credit, context):
                yield response
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _start_position(self, first: Any, context: Any) -> int:
        topic = first.topic_name
        if not topic:
            await abort(context, _INVALID, "topic.validation.empty", "The topic name is empty.")
        if not self._feed.topic_exists(topic):
            await abort(context, grpc.StatusCode.NOT_FOUND, "topic.not.found", f"Topic {topic} not found.")
        if first.num_requested <= 0:
            await abort(context, *_NUM_REQUESTED_INVALID)
        if first.replay_preset == pb.ReplayPreset.LATEST:
            return self._feed.latest(topic)
        if first.replay_preset == pb.ReplayPreset.EARLIEST:
            return self._feed.earliest(topic) - 1
        return await self._custom_position(topic, bytes(first.replay_id), context)

    async def _custom_position(self, topic: str, replay_id: bytes, context: Any) -> int:
        if not replay_id:
            message = "A replay_id is required with the CUSTOM replay preset."
            await abort(context, _INVALID, "subscription.fetch.replayid.validation.failed", message)
        replay = int.from_bytes(replay_id, "big")
        if len(replay_id) != 8 or not self._feed.is_retained(topic, replay):
            await abort(context, _INVALID, "subscription.fetch.replayid.corrupted", "The Replay ID validation failed.")
        return replay

    async def _read_requests(self, requests: AsyncIterator[Any], topic: str, credit: _Credit) -> None:
        async for request in requests:
            # Replay fields of later requests are ignored, as documented; the topic may be omitted, not changed.
            if request.topic_name and request.topic_name != topic:
                message = f"The topic {request.topic_name} differs from the subscription's topic {topic}."
                credit.fail((_INVALID, "subscription.fetch.topic.mismatch", message))
                return
            if request.num_requested <= 0:
                credit.fail(_NUM_REQUESTED_INVALID)
                return
            credit.add(request.num_requested)

    async def _deliver(self, topic: str, position: int, credit: _Credit, context: Any) -> AsyncIterator[Any]:
        sent = 0
        while True:
            await self._check_stream(credit, context, sent)
            if credit.pending == 0:
                if not await _wait_event(credit.changed, self._rules.idle_close_s):
                    return  # the documented close: no new FetchRequest within 60 s of the last response
                credit.changed.clear()
                continue
            events = self._feed.read_after(topic, position, credit.pending)
            if not events:
                if await self._idle(topic, position, credit):
                    latest = replay_bytes(self._feed.latest(topic))
                    yield pb.FetchResponse(
                        latest_replay_id=latest, rpc_id=new_rpc_id(), pending_num_requested=credit.pending
                    )
                continue
            credit.pending -= len(events)
            position = events[-1].replay_id
            sent += len(events)
            yield pb.FetchResponse(
                events=[_consumer_event(e) for e in events],
                latest_replay_id=replay_bytes(position),
                rpc_id=new_rpc_id(),
                pending_num_requested=credit.pending,
            )

    async def _idle(self, topic: str, position: int, credit: _Credit) -> bool:
        """Wait for an event, a request error or the keepalive time; True when a keepalive is due."""
        credit.changed.clear()
        arrived = asyncio.create_task(self._feed.wait_after(topic, position, self._rules.keepalive_s))
        failed = asyncio.create_task(credit.changed.wait())
        try:
            await asyncio.wait([arrived, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (arrived, failed):
                task.cancel()
            await asyncio.gather(arrived, failed, return_exceptions=True)
        return credit.error is None and not self._feed.read_after(topic, position, 1) and not credit.changed.is_set()

    async def _check_stream(self, credit: _Credit, context: Any, sent: int) -> None:
        if credit.error is not None:
            await abort(context, *credit.error)
        token = str(dict(context.invocation_metadata() or ()).get("accesstoken", ""))
        if not self._feed.session_valid(token):
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", AUTH_ERROR_MESSAGE)
        limit = self._faults.fail_after_events
        if limit is not None and sent >= limit:
            self._faults.fail_after_events = None
            await abort(context, self._faults.fail_status, self._faults.fail_code, "injected fault")


def _consumer_event(event: FeedEvent) -> Any:
    producer_event = pb.ProducerEvent(id=event.event_id, schema_id=event.schema_id, payload=event.payload)
    return pb.ConsumerEvent(event=producer_event, replay_id=replay_bytes(event.replay_id))


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout_s)
    except TimeoutError:
        return False
    return True
