"""Real-time first on a real broker: people's edits trickling in neither wait behind a bulk backlog nor stop it."""

import asyncio
import dataclasses
import time

import pytest
from prometheus_client import CollectorRegistry

from bridge.metrics import Metrics
from bridge.sink.runner import build_gate, run_sink
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.fakeorg import FakeOrg
from tests.sink.harness import account, produce, run_burst, sink_settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

BULK_RECORDS = 12_000
TRICKLE_INTERVAL_S = 0.1


async def _trickle(settings: object, stop: asyncio.Event, sent: list[str]) -> None:
    n = 0
    while not stop.is_set():
        external_id = f"R-{n}"
        await produce(settings, [account(external_id, lane=Lane.REALTIME)])  # type: ignore[arg-type]
        sent.append(external_id)
        n += 1
        await asyncio.sleep(TRICKLE_INTERVAL_S)


async def test_a_trickle_of_realtime_edits_does_not_stall_the_bulk_backlog(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    # What benchmarks/priority.py found: with an edit every 200 ms, the sink paused its bulk partitions for every
    # real-time record it read (and dropped the bulk fetch in progress each time), so the nightly sync crawled.
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=6, batch_linger_s=0.2)
    await produce(settings, [account(f"A-{n}") for n in range(BULK_RECORDS)])
    org = FakeOrg(latency_s=0.02)
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    org.on_limit_info = gate.observe
    stop, stop_trickle = asyncio.Event(), asyncio.Event()
    sent: list[str] = []
    sink = asyncio.create_task(run_sink(settings, org, gate, stop, metrics=metrics))
    trickle = asyncio.create_task(_trickle(settings, stop_trickle, sent))
    started = time.monotonic()
    try:
        while sum(1 for (_, key) in org.records if key.startswith("A-")) < BULK_RECORDS:
            assert time.monotonic() - started < 60.0, f"bulk stalled: {len(org.records)} records written"
            await asyncio.sleep(0.2)
        bulk_s = time.monotonic() - started
        stop_trickle.set()
        await trickle
        deadline = time.monotonic() + 10.0
        while any(("Account", key) not in org.records for key in sent):
            assert time.monotonic() < deadline, "real-time edits not written"
            await asyncio.sleep(0.1)
    finally:
        stop_trickle.set()
        stop.set()
        await asyncio.gather(sink, trickle, return_exceptions=True)
    assert len(sent) >= 10  # the trickle really ran while the backlog was written
    assert bulk_s < 30.0


async def test_realtime_writes_observe_their_latency_from_ingest_time(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, realtime_slo_s=1.5)
    ingested_ms = round((time.time() - 1.0) * 1000)  # the events reached the broker a second ago
    realtime = [dataclasses.replace(account(f"R-{n}", lane=Lane.REALTIME), ingested_ms=ingested_ms) for n in range(5)]
    unknown = account("R-old", lane=Lane.REALTIME)  # written by an older processor: no ingest time, not observed
    bulk = [dataclasses.replace(account(f"A-{n}"), ingested_ms=ingested_ms) for n in range(3)]  # not real-time
    await produce(settings, [*realtime, unknown, *bulk])
    metrics = Metrics.create(CollectorRegistry())
    await run_burst(settings, FakeOrg(), metrics)
    registry = metrics.registry
    assert registry.get_sample_value("bridge_realtime_latency_seconds_count") == 5
    total_s = registry.get_sample_value("bridge_realtime_latency_seconds_sum") or 0.0
    assert 5 * 1.0 <= total_s < 5 * 30.0
    assert registry.get_sample_value("bridge_realtime_latency_seconds_bucket", {"le": "0.5"}) == 0
    assert registry.get_sample_value("bridge_realtime_latency_slo_seconds") == 1.5
