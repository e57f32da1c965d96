"""The demo's flow: publish deterministic events through the Publisher, read them back, account for each one.

    report = await run_demo(settings, 20_000, run_id="demo-1")
    assert report.ok            # nothing lost, duplicated or altered

The full end-to-end sync replaces this flow later; the CLI only renders progress and the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import Settings
from bridge.demo.dataset import CUSTOMER_TYPE, DEAL_TYPE, demo_events
from bridge.demo.readback import read_back
from bridge.demo.reconcile import Reconciliation, reconcile
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.publisher import Publisher
from bridge.types import Lane

Progress = Callable[[int], None]

_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo did and whether every event came back exactly once."""

    topics: tuple[str, ...]
    published: int
    not_published: int
    publish_s: float
    reconciliation: Reconciliation

    @property
    def events_per_s(self) -> float:
        """Publish throughput: acknowledged events per second."""
        return self.published / self.publish_s if self.publish_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every event was acknowledged and read back once, unchanged."""
        return self.not_published == 0 and self.reconciliation.ok


async def run_demo(
    settings: Settings,
    count: int,
    *,
    run_id: str,
    on_published: Progress | None = None,
    on_read: Progress | None = None,
) -> DemoReport:
    """Publish `count` demo events to their domain topics and read them back (only this run's events count)."""
    bootstrap = settings.kafka.bootstrap_servers or ""
    registry = SchemaRegistry.load(settings.processor.schemas_dir)
    specs = [registry.spec(t) for t in (CUSTOMER_TYPE, DEAL_TYPE)]
    topics = tuple(sorted({topic for spec in specs for topic in (spec.topic, spec.topic_for(Lane.REALTIME))}))
    t = settings.topics
    await ensure_topics(settings.kafka, [TopicSpec(name, t.partitions, t.replication_factor, {}) for name in topics])
    events = list(demo_events(count, run_id=run_id))
    published = 0
    async with Publisher(settings, schemas=registry) as publisher:
        started = time.perf_counter()
        for start in range(0, len(events), _BATCH):
            results = await publisher.publish_many(events[start : start + _BATCH])
            published += sum(1 for r in results if r.ok)
            if on_published is not None:
                on_published(start + len(results))
        publish_s = time.perf_counter() - started
    received = await read_back(bootstrap, topics, on_progress=on_read)
    mine = [event for event in received if event.id.startswith(f"{run_id}-")]
    return DemoReport(topics, published, len(events) - published, publish_s, reconcile(events, mine))
