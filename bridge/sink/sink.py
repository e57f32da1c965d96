"""The sink's loop: read the write topics, form batches, write them through the governor, deliver outcomes, commit.

    async with Sink(wiring) as sink:          # subscribes; no I/O in the constructor
        stats = await sink.run(stop)         # until `stop` is set; `burst=True`: until caught up and idle

Order of a record's life (invariant 2 in one line): read → tracked → written or failed → its result or dead
letter produced and acknowledged (acks=all) → settled → the partition's commit may pass it.
The real-time lane goes first: its batches are formed first, the governor serves it first, and the bulk
partitions are paused while real-time work is pending. Stopping stops fetching, lets in-flight batches finish
for `grace_s`, abandons the rest without committing past them, and commits what is durable.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from bridge.config import Settings
from bridge.governor import GovernorGate
from bridge.metrics import Metrics
from bridge.processing.records import Origin
from bridge.processing.routing import DeadLetter, Refusal, dead_letter_message, decode_write_topic
from bridge.salesforce.limits import LimitInfo
from bridge.sink.backoff import Backoff
from bridge.sink.decide import LIMIT_PAUSE_S, Decider, Deliver, Resend
from bridge.sink.executor import BatchExecutor, RecordWriter, Results
from bridge.sink.items import BULK_JOB_CALLS, Batch, Headers, WriteItem, WritePath
from bridge.sink.messages import DLQ_STAGE, PARENT_NOT_FOUND, PARENT_REFUSED, failure_message, parent_refused_message
from bridge.sink.outcomes import Failure, FailureKind, Written
from bridge.sink.parents import ParentRefusal
from bridge.sink.partitions import Partitions
from bridge.sink.queue import MAX_GENERATION, Budget, WriteQueue
from bridge.sink.upstream import UpstreamProbe, Watermarks
from bridge.types import Lane
from bridge.types import Outcome as Accounted

_log = logging.getLogger(__name__)
_FETCH_MAX_RECORDS = 1_000
_BUSY_FETCH_MS = 20
_IDLE_FETCH_MS = 200
MAX_PENDING_RECORDS = 60_000
_YIELD_EVERY = 500
_HELD_EVERY_S = 1.0  # how often the held-children gauges are refreshed (a scan of the queued children)
_SCARCE_MIN_CALLS = 16 * BULK_JOB_CALLS  # however small the org's limit, this many calls left are scarce
UPSTREAM_PROBE_S = 0.5  # how often the processor's progress is read (two small requests)


@dataclass(slots=True)
class SinkStats:
    """What one run did (the metrics say the same, for people)."""

    read: int = 0
    written: int = 0
    dead_lettered: int = 0
    resent: int = 0
    undecodable: int = 0
    parent_refused: int = 0


@dataclass(frozen=True, slots=True)
class SinkWiring:
    """The sink's collaborators, built by the composition root."""

    settings: Settings
    writer: RecordWriter
    gate: GovernorGate
    consumer: AIOKafkaConsumer  # group_id set, enable_auto_commit=False, not subscribed
    producer: AIOKafkaProducer  # acks=all, started
    metrics: Metrics
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    grace_s: float = 30.0
    upstream: UpstreamProbe | None = None  # the processor's progress; None: children of unknown parents go at once


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._sink.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._sink.on_assigned(assigned)


class Sink:
    """One sink worker."""

    def __init__(self, wiring: SinkWiring) -> None:
        settings = wiring.settings
        self._w = wiring
        self._topics = (settings.topics.realtime, settings.topics.bulk)
        self._queue = WriteQueue(settings.sink)
        self._executor = BatchExecutor(wiring.writer, wiring.gate, wiring.metrics, wiring.clock)
        backoff = Backoff(settings.sink.backoff_base_s, settings.sink.backoff_max_s, wiring.rng)
        self._decider = Decider(settings.sink, settings.topics, backoff)
        self._partitions = Partitions(
            wiring.consumer, wiring.gate, wiring.metrics, settings.sink.group_id, self._topics
        )
        self._tasks: dict[asyncio.Task[None], Lane] = {}
        # Enough pending records for a large Bulk API job to form, bounded for memory (~1 KB a record).
        self._max_pending = max(2_000, min(10 * settings.sink.bulk_threshold_records, MAX_PENDING_RECORDS))
        self._paused: set[TopicPartition] = set()
        self._paused_until_s = 0.0
        self._fetched_nothing = False
        self._caught_up = False  # every assigned partition read to its end
        self._burst = False  # run until idle: once caught up, partial batches go at once
        self._held_at_s = 0.0
        self._watermarks = Watermarks()
        self._released = 0 if wiring.upstream is not None else MAX_GENERATION
        self._releases: list[tuple[int, dict[TopicPartition, int]]] = []  # passed generations not read up to yet
        self._watch: asyncio.Task[None] | None = None
        self._next_offsets: dict[TopicPartition, int] = {}
        self.stats = SinkStats()

    def __repr__(self) -> str:
        return f"Sink(pending={len(self._queue)}, in_flight={len(self._tasks)}, {self._partitions!r})"

    async def __aenter__(self) -> Self:
        self._w.consumer.subscribe(list(self._topics), listener=_Rebalance(self))
        if self._w.upstream is not None:
            self._watch = asyncio.create_task(self._watch_upstream(self._w.upstream))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await self._drain()

    # -- the loop -------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, burst: bool = False) -> SinkStats:
        """Work until `stop` is set (or, with `burst`, until every assigned partition is caught up and idle)."""
        stop = stop if stop is not None else asyncio.Event()
        self._burst = burst
        while not stop.is_set():
            await self._fetch()
            await self._release()
            self._prioritise()
            self._dispatch()
            self._export_held()
            await self._partitions.commit()
            if burst and await self._idle():
                break
        await self._drain()
        return self.stats

    async def _fetch(self) -> None:
        busy = bool(self._tasks) or len(self._queue) > 0
        fetched = await self._w.consumer.getmany(
            timeout_ms=_BUSY_FETCH_MS if busy else _IDLE_FETCH_MS, max_records=_FETCH_MAX_RECORDS
        )
        self._fetched_nothing = not any(fetched.values())
        self._caught_up = self._fetched_nothing and await self._at_log_end()
        now_s = self._w.clock()
        for tp, records in fetched.items():
            if records:
                self._next_offsets[tp] = records[-1].offset + 1
            for record in records:
                self._ingest(record, now_s)

    def _backlog(self) -> int:
        """Bulk-lane records not read yet (from the high watermarks the fetches reported)."""
        unread = 0
        for tp in self._partitions.assigned:
            highwater = self._w.consumer.highwater(tp)
            if tp.topic == self._topics[1] and highwater is not None:
                unread += max(0, highwater - self._next_offsets.get(tp, 0))
        return unread

    def _ingest(self, record: ConsumerRecord[bytes, bytes], now_s: float) -> None:
        value = record.value or b""
        headers = tuple((name, bytes(raw)) for name, raw in record.headers or ())
        try:
            decoded = decode_write_topic(value)
        except (ValueError, KeyError, TypeError) as exc:  # not a write record: bad input never stops the stream
            if self._partitions.track_offset(record.topic, record.partition, record.offset):
                self.stats.undecodable += 1
                self._spawn(self._dead_letter_undecodable(record, headers, exc), Lane.BULK)
            return
        if isinstance(decoded, Refusal):
            self._refusal_notice(record, decoded, now_s)
            return
        item = WriteItem(record.topic, record.partition, record.offset, decoded, record.key, value, headers, now_s)
        if not self._partitions.track(item):
            return
        item.upstream_generation = self._watermarks.next_generation
        self.stats.read += 1
        self._w.metrics.events.labels(topic=record.topic, outcome="consumed").inc()
        refusal = self._queue.refused_parent(item, now_s)
        if refusal is not None:
            self._spawn(self._deliver(self._refused_children([item], refusal)), item.record.lane)
            return
        self._queue.add(item)

    def _refusal_notice(self, record: ConsumerRecord[bytes, bytes], refusal: Refusal, now_s: float) -> None:
        """The processor refused a parent the bridge never wrote: its children here are dead-lettered at once.
        The notice is state, not an event: it settles as soon as it is read (children read before it are
        unsettled until their dead letters are acknowledged, so a restart reads the notice again)."""
        if not self._partitions.track_offset(record.topic, record.partition, record.offset):
            return
        self._partitions.settle_offset(record.topic, record.partition, record.offset)
        self._refuse(ParentRefusal(refusal.key, "processor", refusal.reason, refusal.detail), now_s)

    def _refuse(self, refusal: ParentRefusal, now_s: float) -> None:
        children = self._queue.refuse(refusal, now_s)
        if children:
            lane = Lane.REALTIME if any(c.record.lane is Lane.REALTIME for c in children) else Lane.BULK
            self._spawn(self._deliver(self._refused_children(children, refusal)), lane)

    def _refused_children(self, children: Sequence[WriteItem], refusal: ParentRefusal) -> list[Deliver]:
        self.stats.parent_refused += len(children)
        topics = self._w.settings.topics
        return [
            Deliver(child, parent_refused_message(child, refusal, topics), Accounted.DEAD_LETTERED, PARENT_REFUSED)
            for child in children
        ]

    def _prioritise(self) -> None:
        """Pause the bulk partitions while real-time work waits or the queue is full; the real-time ones only
        when the queue is far over its bound (real-time traffic is small, and a person is waiting for it)."""
        assigned = set(self._partitions.assigned)
        pending = len(self._queue)
        hold_bulk = pending >= self._max_pending or self._queue.lane_size(Lane.REALTIME) > 0
        hold_all = pending >= 2 * self._max_pending
        wanted = {tp for tp in assigned if hold_all or (hold_bulk and tp.topic == self._topics[1])}
        if to_pause := wanted - self._paused:
            self._w.consumer.pause(*to_pause)
        if to_resume := (self._paused - wanted) & assigned:
            self._w.consumer.resume(*to_resume)
        self._paused = wanted

    def _dispatch(self, *, flush: bool = False) -> None:
        now_s = self._w.clock()
        if now_s < self._paused_until_s:
            return
        # The queue is full (or a burst run has read everything): nothing more can join a batch by waiting.
        flush = flush or (self._burst and self._caught_up) or len(self._queue) >= self._max_pending
        cap = self._w.gate.governor.concurrency_cap
        backlog = self._backlog()
        budget = self._budget()
        while True:
            # Each lane has its own task slots, so bulk batches waiting for budget never keep real-time out.
            per_lane = Counter(self._tasks.values())
            lanes = [lane for lane in Lane if per_lane[lane] < cap]
            batch = None
            if lanes:
                batch = self._queue.take(
                    now_s, flush=flush, lanes=lanes, backlog=backlog, budget=budget, released=self._released
                )
            if batch is None:
                return
            self._spawn(self._process(batch), batch.lane)

    # -- the processor's progress (bridge.sink.upstream) ------------------------------------------------------

    async def _watch_upstream(self, probe: UpstreamProbe) -> None:
        """Snapshot the processor's source topics and notice when its group has committed past a snapshot."""
        while True:
            await asyncio.sleep(UPSTREAM_PROBE_S)
            ends = await probe.ends()
            committed = await probe.committed() if ends is not None else None
            if ends is None or committed is None:
                # No source topics, or a processor group that has committed nothing: nothing upstream to wait for.
                passed: int | None = self._watermarks.pass_all()
            else:
                self._watermarks.snapshot(ends)
                passed = self._watermarks.advance(committed)
            if passed is None or passed <= self._released:
                continue
            write_ends = await probe.end_offsets(self._partitions.assigned)
            if write_ends is not None:
                self._releases.append((passed, write_ends))

    async def _release(self) -> None:
        """A passed generation is released once this worker has read its partitions as far as they reached then."""
        while self._releases:
            generation, ends = self._releases[0]
            for tp, end in ends.items():
                if tp in self._partitions.assigned and await self._w.consumer.position(tp) < end:
                    return
            self._releases.pop(0)
            self._released = max(self._released, generation)
            if self._w.settings.sink.parent_wait_drained:
                self._give_up_missing_parents()

    def _give_up_missing_parents(self) -> None:
        now_s = self._w.clock()
        children = self._queue.missing_parents(self._released, now_s)
        if not children:
            return
        topics = self._w.settings.topics
        delivers = []
        for child in children:
            message = (
                f"parent {child.route} is not in Salesforce, and nothing the source systems published before "
                "Salesforce said so brought it through the bridge"
            )
            failure = Failure(FailureKind.PARENT_MISSING, "INVALID_CROSS_REFERENCE_KEY", message)
            delivers.append(
                Deliver(
                    child,
                    failure_message(child, failure, topics, reason=PARENT_NOT_FOUND),
                    Accounted.DEAD_LETTERED,
                    PARENT_NOT_FOUND,
                )
            )
        lane = Lane.REALTIME if any(c.record.lane is Lane.REALTIME for c in children) else Lane.BULK
        self._spawn(self._deliver(delivers), lane)

    def _budget(self) -> Budget:
        """The bulk lane's calls left for this worker, and whether they are scarce (`sink.bulk_budget_share`;
        0 keeps the budget out of the choice of path)."""
        governor = self._w.gate.governor
        share_setting = self._w.settings.sink.bulk_budget_share
        if governor.daily_limit_calls is None or share_setting <= 0:
            return Budget()
        ceiling = max(governor.ceiling_calls(Lane.BULK), 2 * _SCARCE_MIN_CALLS)
        allowance = governor.allowance_calls(Lane.BULK)
        return Budget(allowance, allowance < share_setting * governor.share * ceiling)

    def _export_held(self) -> None:
        now_s = self._w.clock()
        if now_s - self._held_at_s < _HELD_EVERY_S:
            return
        self._held_at_s = now_s
        held, oldest_read_s = self._queue.held_children()
        self._w.metrics.held_children.set(held)
        self._w.metrics.held_children_oldest_age.set(0.0 if oldest_read_s is None else now_s - oldest_read_s)

    def _spawn(self, work: Coroutine[Any, Any, None], lane: Lane) -> None:
        task = asyncio.create_task(work)
        self._tasks[task] = lane
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and (exc := task.exception()) is not None:  # its records stay unsettled
            _log.error("batch task failed; its records are redone after a restart", exc_info=exc)

    async def _idle(self) -> bool:
        if self._tasks or len(self._queue) or not self._caught_up:
            return False
        assigned = self._partitions.assigned
        ends = await self._w.consumer.end_offsets(assigned)
        for tp in assigned:
            if await self._w.consumer.position(tp) < ends[tp]:
                return False
        return True

    async def _at_log_end(self) -> bool:
        """Whether every assigned partition is read up to the high watermark its last fetch reported."""
        assigned = self._partitions.assigned
        if not assigned:
            return False
        for tp in assigned:
            highwater = self._w.consumer.highwater(tp)
            if highwater is None or await self._w.consumer.position(tp) < highwater:
                return False
        return True

    async def _settle_in_flight(self) -> None:
        """Abandon batches still waiting for a permit (nothing was sent), let those sending finish (bounded)."""
        self._w.gate.cancel_waiters()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self._w.grace_s)
            for task in pending:  # abandoned: not settled, so never committed past (redone after a restart)
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _drain(self) -> None:
        await self._settle_in_flight()
        await self._partitions.commit()

    # -- one batch ------------------------------------------------------------------------------------------

    async def _process(self, batch: Batch) -> None:
        try:
            results = await self._write(batch)
        finally:
            self._queue.done(batch)
        self._adapt(batch, results)
        now_s = self._w.clock()
        self._queue.written((item.record_key for item, outcome in results if isinstance(outcome, Written)), now_s)
        decisions = [self._decider.decide(item, outcome, now_s, len(batch)) for item, outcome in results]
        self._resend([d for d in decisions if isinstance(d, Resend)])
        delivers = [d for d in decisions if isinstance(d, Deliver)]
        for deliver in delivers:
            if deliver.accounted is Accounted.DEAD_LETTERED and deliver.item.record.first_write:
                # Refused by the CRM and never written before: the parent of whatever references it is absent.
                self._refuse(ParentRefusal(deliver.item.record_key, DLQ_STAGE, deliver.reason), now_s)
        await self._deliver(delivers)

    async def _write(self, batch: Batch) -> Results:
        try:
            return await self._executor.write(batch)
        except (KafkaError, OSError, RuntimeError, ValueError) as exc:  # a bug or an unmapped error: retry later
            _log.exception("batch of %d %s failed unexpectedly", len(batch), batch.sobject)
            failure = Failure(FailureKind.TRANSIENT, "INTERNAL", repr(exc))
            return [(item, failure) for item in batch.items]

    def _adapt(self, batch: Batch, results: Results) -> None:
        failures = [outcome for _, outcome in results if isinstance(outcome, Failure)]
        kinds = {failure.kind for failure in failures}
        if FailureKind.CPU_LIMIT in kinds:
            self._queue.sizer.shrink(batch.sobject, len(batch))
            self._w.metrics.trigger_cpu_errors.labels(sobject=batch.sobject).inc()
        elif batch.path is WritePath.COLLECTIONS and all(isinstance(o, Written) for _, o in results):
            self._queue.sizer.grow(batch.sobject)
        if FailureKind.LIMIT_EXCEEDED in kinds:  # the client counted it in bridge_salesforce_limit_errors_total
            wait_s = max(f.retry_after_s or LIMIT_PAUSE_S for f in failures if f.kind is FailureKind.LIMIT_EXCEEDED)
            self._paused_until_s = max(self._paused_until_s, self._w.clock() + wait_s)
            limit = self._w.gate.governor.daily_limit_calls
            if limit is not None:  # the org says the budget is spent, whatever we believed
                self._w.gate.observe(LimitInfo(limit, limit))

    def _resend(self, resends: Sequence[Resend]) -> None:
        owned = []
        now_s = self._w.clock()
        for resend in resends:
            item = resend.item
            if (refusal := self._queue.refused_parent(item, now_s)) is not None:  # refused while it was in flight
                self._spawn(self._deliver(self._refused_children([item], refusal)), item.record.lane)
                continue
            item.not_before_s = resend.not_before_s
            if resend.reason == FailureKind.PARENT_MISSING.value:
                item.missing_generation = self._watermarks.next_generation
            self._w.metrics.retries.labels(component="sink", reason=resend.reason).inc()
            if self._partitions.owns(item):
                owned.append(item)
        self.stats.resent += len(resends)
        self._queue.put_back(owned)

    async def _deliver(self, delivers: Sequence[Deliver]) -> None:
        if not delivers:
            return
        producer = self._w.producer
        try:
            futures = []
            for n, deliver in enumerate(delivers, start=1):
                message = deliver.message
                sent = await producer.send(message.topic, message.value, key=message.key, headers=list(message.headers))
                futures.append(sent)
                if n % _YIELD_EVERY == 0:  # a Bulk API job's outcomes: let heartbeats and other batches run
                    await asyncio.sleep(0)
            await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:  # not durable: write again (an upsert again is harmless)
            _log.warning("outcomes of %d records not acknowledged: %r", len(delivers), exc)
            retry_s = self._w.clock() + self._w.settings.sink.backoff_base_s
            self._resend([Resend(d.item, retry_s, "produce_failed") for d in delivers])
            return
        for deliver in delivers:
            self._account(deliver)

    async def _dead_letter_undecodable(
        self, record: ConsumerRecord[bytes, bytes], headers: Headers, exc: Exception
    ) -> None:
        letter = DeadLetter(
            stage=DLQ_STAGE,
            reason="malformed_write",
            detail=f"not a write record: {exc!r}",
            origin=Origin(record.topic, record.partition, record.offset),
            key=record.key,
            payload=record.value or b"",
            headers=headers,
        )
        message = dead_letter_message(letter, self._w.settings.topics)
        while True:  # settles only once the dead letter is acknowledged; a stop abandons it (redone on restart)
            try:
                await self._w.producer.send_and_wait(message.topic, message.value, key=message.key)
                break
            except (KafkaError, OSError, TimeoutError) as err:
                _log.warning("dead letter of an undecodable write not acknowledged: %r", err)
                await asyncio.sleep(self._w.settings.sink.backoff_max_s)
        self._partitions.settle_offset(record.topic, record.partition, record.offset)
        self._w.metrics.events.labels(topic=record.topic, outcome=Accounted.DEAD_LETTERED.value).inc()
        self._w.metrics.dead_letters.labels(stage=DLQ_STAGE, reason="malformed_write").inc()

    def _account(self, deliver: Deliver) -> None:
        item = deliver.item
        self._partitions.settle(item)
        self._w.metrics.events.labels(topic=item.topic, outcome=deliver.accounted.value).inc()
        if deliver.accounted is Accounted.WRITTEN:
            self.stats.written += 1
        else:
            self.stats.dead_lettered += 1
            self._w.metrics.dead_letters.labels(stage="sink", reason=deliver.reason).inc()

    # -- rebalances -----------------------------------------------------------------------------------------

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        """Before partitions move away: let in-flight batches finish (bounded), commit, forget their records."""
        await self._settle_in_flight()
        await self._partitions.commit()
        gone = set(revoked)
        self._queue.drop(lambda item: TopicPartition(item.topic, item.partition) in gone)
        self._partitions.revoke(revoked)
        self._paused -= gone
        for tp in gone:
            self._next_offsets.pop(tp, None)

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """After a rebalance: trackers for the new partitions, and the governor's share."""
        self._partitions.assign(set(self._partitions.assigned) | set(assigned))
