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
from bridge.processing.routing import Refusal, decode_write_topic
from bridge.salesforce.limits import LimitInfo
from bridge.sink.backoff import Backoff
from bridge.sink.decide import LIMIT_PAUSE_S, Decider, Deliver, Resend
from bridge.sink.delivery import Delivery, SinkStats
from bridge.sink.executor import BatchExecutor, RecordWriter, Results
from bridge.sink.items import Batch, WriteItem, WritePath
from bridge.sink.messages import DLQ_STAGE, PARENT_DELETED
from bridge.sink.outcomes import Failure, FailureKind, Written
from bridge.sink.parents import ParentRefusal
from bridge.sink.partitions import Partitions
from bridge.sink.queue import WriteQueue
from bridge.sink.sizing import Budget
from bridge.sink.upstream import UpstreamGate, UpstreamProbe
from bridge.types import Lane
from bridge.types import Outcome as Accounted

_log = logging.getLogger(__name__)
_FETCH_MAX_RECORDS = 1_000
_BUSY_FETCH_MS = 20
_IDLE_FETCH_MS = 200
MAX_PENDING_RECORDS = 60_000
_HELD_EVERY_S = 1.0  # how often the held-children gauges are refreshed (a scan of the queued children)


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
    wall_clock: Callable[[], float] = time.time  # for the real-time latency, from the broker's ingest timestamps
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
        self._upstream = UpstreamGate(wiring.upstream)
        self._watch: asyncio.Task[None] | None = None
        self._next_offsets: dict[TopicPartition, int] = {}
        self.stats = SinkStats()
        wiring.metrics.realtime_latency_slo.set(settings.sink.realtime_slo_s)
        self._delivery = Delivery(wiring.producer, self._partitions, wiring.metrics, settings.topics, self.stats)

    def __repr__(self) -> str:
        return f"Sink(pending={len(self._queue)}, in_flight={len(self._tasks)}, {self._partitions!r})"

    async def __aenter__(self) -> Self:
        self._w.consumer.subscribe(list(self._topics), listener=_Rebalance(self))
        if self._w.upstream is not None:
            self._watch = asyncio.create_task(self._upstream.watch(lambda: self._partitions.assigned))
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
            if await self._upstream.release(self._w.consumer, self._partitions.assigned):
                self._give_up_missing_parents()
            self._dispatch()
            self._prioritise()  # after dispatching: only real-time work that could not go yet holds bulk back
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
                retry_s = self._w.settings.sink.backoff_max_s
                self._spawn(self._delivery.dead_letter_undecodable(record, headers, exc, retry_s), Lane.BULK)
            return
        if isinstance(decoded, Refusal):
            self._refusal_notice(record, decoded, now_s)
            return
        item = WriteItem(record.topic, record.partition, record.offset, decoded, record.key, value, headers, now_s)
        if not self._partitions.track(item):
            return
        item.upstream_generation = self._upstream.next_generation
        self.stats.read += 1
        self._w.metrics.events.labels(topic=record.topic, outcome="consumed").inc()
        refusal = self._queue.refused_parent(item, now_s)
        if refusal is not None:
            self._dead_letter_children([item], refusal)
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
        self._dead_letter_children(self._queue.refuse(refusal, now_s), refusal)

    def _dead_letter_children(self, children: Sequence[WriteItem], refusal: ParentRefusal | None) -> None:
        """Children of a refused parent (`refusal`), or of a parent nowhere in the bridge (None): to the DLQ."""
        if not children:
            return
        if refusal is not None:
            self.stats.parent_refused += len(children)
            delivers = [self._decider.parent_refused(child, refusal) for child in children]
        else:
            delivers = [self._decider.parent_nowhere(child) for child in children]
        lane = Lane.REALTIME if any(child.record.lane is Lane.REALTIME for child in children) else Lane.BULK
        self._spawn(self._deliver(delivers), lane)

    def _prioritise(self) -> None:
        """Pause the bulk partitions while real-time work waits or the queue is full; the real-time ones only
        when the queue is far over its bound (real-time traffic is small, and a person is waiting for it).
        Real-time work waits only when it could not be dispatched: a steady trickle of edits that go at once
        must not keep pausing the bulk partitions (each pause drops the fetch in progress: the nightly sync
        then crawled at a few records a second while people kept editing, found by benchmarks/priority.py)."""
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
        budget = Budget.of(self._w.gate.governor, self._w.settings.sink.bulk_budget_share)
        while True:
            # Each lane has its own task slots, so bulk batches waiting for budget never keep real-time out.
            per_lane = Counter(self._tasks.values())
            lanes = [lane for lane in Lane if per_lane[lane] < cap]
            batch = None
            if lanes:
                released = self._upstream.released
                batch = self._queue.take(
                    now_s, flush=flush, lanes=lanes, backlog=backlog, budget=budget, released=released
                )
            if batch is None:
                return
            self._spawn(self._process(batch), batch.lane)

    def _give_up_missing_parents(self) -> None:
        """A generation was released: children still missing a parent the bridge never brought are dead letters."""
        if self._w.settings.sink.parent_wait_drained:
            self._dead_letter_children(self._queue.missing_parents(self._upstream.released, self._w.clock()), None)

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
        if batch.lane is Lane.REALTIME:
            self._observe_realtime(results)
        now_s = self._w.clock()
        written = [item for item, outcome in results if isinstance(outcome, Written)]
        self._queue.written((item.record_key for item in written if not item.record.is_delete), now_s)
        for item in (item for item in written if item.record.is_delete):  # its children cannot be written now
            self._refuse(ParentRefusal(item.record_key, DLQ_STAGE, PARENT_DELETED, "the parent was deleted"), now_s)
        decisions = [self._decider.decide(item, outcome, now_s, len(batch)) for item, outcome in results]
        self._resend([d for d in decisions if isinstance(d, Resend)])
        delivers = [d for d in decisions if isinstance(d, Deliver)]
        for deliver in delivers:
            record = deliver.item.record
            if deliver.accounted is Accounted.DEAD_LETTERED and record.first_write and not record.is_delete:
                # Refused by the CRM and never written before: the parent of whatever references it is absent.
                self._refuse(ParentRefusal(deliver.item.record_key, DLQ_STAGE, deliver.reason), now_s)
        await self._deliver(delivers)

    def _observe_realtime(self, results: Results) -> None:
        """Ingest (the domain record's broker timestamp) → Salesforce's answer, for each real-time record written."""
        now_s = self._w.wall_clock()
        histogram = self._w.metrics.realtime_latency
        for item, outcome in results:
            ingested_ms = item.record.ingested_ms
            if isinstance(outcome, Written) and ingested_ms is not None:
                histogram.observe(max(0.0, now_s - ingested_ms / 1000))

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
                self._dead_letter_children([item], refusal)
                continue
            item.not_before_s = resend.not_before_s
            if resend.reason == FailureKind.PARENT_MISSING.value:
                item.missing_generation = self._upstream.next_generation
            self._w.metrics.retries.labels(component="sink", reason=resend.reason).inc()
            if self._partitions.owns(item):
                owned.append(item)
        self.stats.resent += len(resends)
        self._queue.put_back(owned)

    async def _deliver(self, delivers: Sequence[Deliver]) -> None:
        if not await self._delivery.deliver(delivers):  # not durable: write again (an upsert again is harmless)
            retry_s = self._w.clock() + self._w.settings.sink.backoff_base_s
            self._resend([Resend(d.item, retry_s, "produce_failed") for d in delivers])

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
