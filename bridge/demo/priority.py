"""Real-time first, measured on the running pipeline: a person's edits while the nightly sync runs.

    async with LocalStack(StackOptions(workdir=...)) as stack, Outcomes(...) as outcomes:
        await stack.start_roles()
        stream = RealtimeStream(publisher, realtime_events("run-rt-idle", 300), interval_s=0.2)
        await stream.run(duration_s=60.0)
        figures = stream.latencies_ms(outcomes)      # publish call start → its result on crm.results

Used by `benchmarks/priority.py` and by its short variant in the tests. A real-time event's latency runs from the
start of its `publish` call to the moment its outcome (Salesforce's answer) is readable on `crm.results`; an event
without an outcome has no latency and counts as not completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

import orjson
from aiokafka import AIOKafkaConsumer

from bridge.config import TopicSettings
from bridge.demo.observe import Outcomes
from bridge.demo.scenario import nightly_scenario
from bridge.emulator import Org
from bridge.events.envelope import CloudEvent
from bridge.publisher import Publisher
from bridge.types import Lane


def realtime_events(run_id: str, count: int, *, seed: int = 7) -> list[CloudEvent]:
    """`count` valid customer upserts on the real-time lane (a person saving a customer in the source system)."""
    scenario = nightly_scenario(
        accounts=count,
        opportunities=0,
        invalid_share=0.0,
        duplicate_share=0.0,
        out_of_order_share=0.0,
        seed=seed,
        run_id=run_id,
    )
    return [event._replace(lane=Lane.REALTIME) for event in scenario.events]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency percentiles in milliseconds (nearest rank); None when nothing completed."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Percentiles:
        """The percentiles of `values_ms`."""
        if not values_ms:
            return cls(None, None, None, None)
        ordered = sorted(values_ms)

        def rank(q: float) -> float:
            return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

        return cls(rank(0.50), rank(0.95), rank(0.99), round(ordered[-1], 1))


@dataclass(slots=True)
class RealtimeStream:
    """Publishes one event every `interval_s`, each through its own `publish` call, and remembers when each began."""

    publisher: Publisher
    events: Sequence[CloudEvent]
    interval_s: float = 0.2
    started_s: dict[str, float] = field(default_factory=dict)
    started_wall_s: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> int:
        """Publish for `duration_s` (or until `stop` is set, or the events run out); how many were published."""
        sends: list[asyncio.Task[None]] = []
        begin = time.monotonic()
        for index, event in enumerate(self.events):
            due = begin + index * self.interval_s
            if due - begin >= duration_s or (stop is not None and stop.is_set()):
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            # Concurrent sends: a slow acknowledgement must not delay the next person's edit.
            sends.append(asyncio.create_task(self._send(event)))
        await asyncio.gather(*sends)
        return len(sends) - len(self.failed)

    async def _send(self, event: CloudEvent) -> None:
        self.started_s[event.id] = time.monotonic()
        self.started_wall_s[event.id] = time.time()
        result = (await self.publisher.publish_many([event]))[0]
        if not result.ok:
            self.started_s.pop(event.id, None)
            self.failed.append(event.id)

    @property
    def sent(self) -> int:
        """Events the broker acknowledged."""
        return len(self.started_s)

    def latencies_ms(self, outcomes: Outcomes) -> list[float]:
        """Publish call start → outcome readable on `crm.results`, for every event that has one so far."""
        arrived = outcomes.written_at_s
        return [(arrived[i] - s) * 1000 for i, s in self.started_s.items() if i in arrived]

    def completed(self, outcomes: Outcomes) -> int:
        """Events of the stream written to Salesforce so far."""
        return sum(1 for event_id in self.started_s if event_id in outcomes.written_at_s)

    async def wait_completed(self, outcomes: Outcomes, timeout_s: float) -> bool:
        """Until every sent event has its outcome (True) or `timeout_s` has passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self.completed(outcomes) < self.sent:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True


@dataclass(slots=True)
class OtherIntegration:
    """Another integration of the same org spending its daily allocation (the emulator counts its calls alone).

    It brings the org's usage to `start_used` at once, then to `end_used` in equal steps over `ramp_s`.
    """

    org: Org
    start_used: int
    end_used: int
    ramp_s: float
    spent_calls: int = 0

    async def run(self, stop: asyncio.Event, step_s: float = 1.0) -> None:
        """Spend until the ramp is done or `stop` is set."""
        self._spend_to(self.start_used)
        begin = time.monotonic()
        while not stop.is_set():
            progress = min(1.0, (time.monotonic() - begin) / self.ramp_s) if self.ramp_s > 0 else 1.0
            self._spend_to(round(self.start_used + progress * (self.end_used - self.start_used)))
            if progress >= 1.0:
                return
            try:
                await asyncio.wait_for(stop.wait(), step_s)
            except TimeoutError:
                continue

    def _spend_to(self, used: int) -> None:
        calls = used - self.org.api_usage.used()
        if calls > 0:
            self.org.api_usage.spend(calls)
            self.spent_calls += calls


@dataclass(slots=True)
class Stages:
    """Where a real-time event's time goes: the broker timestamps of its write (the processor's output on the
    real-time write topic) and of its result (the sink's, after Salesforce answered), by event id."""

    bootstrap_servers: str
    topics: TopicSettings
    run_id: str
    domain_topics: tuple[str, ...] = ()  # the real-time domain topics: when the broker took each event
    ingested_ms: dict[str, int] = field(default_factory=dict)
    routed_ms: dict[str, int] = field(default_factory=dict)
    answered_ms: dict[str, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        consumer = AIOKafkaConsumer(
            self.topics.realtime,
            self.topics.results,
            *self.domain_topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        self._task = asyncio.create_task(self._consume(consumer))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
                for records in batches.values():
                    for record in records:
                        if record.topic in self.domain_topics:
                            self._ingested(record.headers or (), record.timestamp)
                        else:
                            self._take(record.topic, record.value or b"", record.timestamp)
        finally:
            await consumer.stop()

    def _ingested(self, headers: Sequence[tuple[str, bytes]], timestamp_ms: int) -> None:
        event_id = next((bytes(v).decode(errors="replace") for k, v in headers if k == "ce_id"), None)
        if event_id is not None and event_id.startswith(self.run_id):
            self.ingested_ms.setdefault(event_id, timestamp_ms)

    def _take(self, topic: str, value: bytes, timestamp_ms: int) -> None:
        try:
            doc = orjson.loads(value)
            ids = [str(i) for i in doc.get("event_ids") or () if str(i).startswith(self.run_id)]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return
        target = self.routed_ms if topic == self.topics.realtime else self.answered_ms
        for event_id in ids:
            target.setdefault(event_id, timestamp_ms)

    def breakdown_ms(self, published_wall_s: dict[str, float]) -> dict[str, Percentiles]:
        """Percentiles of each stage: publish call → stored by the broker (the Publisher), → routed by the
        processor, → answered (the sink and Salesforce)."""
        publish, processor, sink = [], [], []
        for event_id, started_s in published_wall_s.items():
            ingested, routed = self.ingested_ms.get(event_id), self.routed_ms.get(event_id)
            answered = self.answered_ms.get(event_id)
            if ingested is not None:
                publish.append(ingested - started_s * 1000)
                if routed is not None:
                    processor.append(routed - ingested)
            if routed is not None and answered is not None:
                sink.append(answered - routed)
        return {
            "publish": Percentiles.of(publish),
            "processor": Percentiles.of(processor),
            "sink": Percentiles.of(sink),
        }
