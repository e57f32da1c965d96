"""Publisher SDK throughput beside a bare aiokafka producer, same broker, same records, same pattern.

    .venv/bin/python benchmarks/publish.py [--events 50000] [--batch 1000] [--rounds 3]

Both sides use an idempotent producer with acks=all and the Publisher's linger and batch settings. The bare
producer sends records encoded before the clock starts (exactly the bytes and headers the Publisher would
send), so the ratio charges the Publisher for all of its work: schema validation, envelope and encoding.
Both publish in chunks of `--batch` events: send every record of the chunk, then wait for all the acks.
Rounds alternate (bare, publisher, bare, ...) on fresh topics and the median of each side is reported.
Starts its own local broker unless BRIDGE_KAFKA__BOOTSTRAP_SERVERS is set. Writes results/publish.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from spy import profiling

from bridge.config import KafkaSettings, Settings
from bridge.demo.dataset import demo_events
from bridge.events import CloudEvent, SchemaRegistry
from bridge.kafka.producer import producer_config
from bridge.publisher import Publisher

RESULTS = Path(__file__).resolve().parent / "results" / "publish.json"


def _chunks(items: list[CloudEvent], size: int) -> Iterator[list[CloudEvent]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def run_publisher(
    settings: Settings, events: list[CloudEvent], batch: int, topic: str, profile: Path | None = None
) -> float:
    async with Publisher(settings) as pub, profiling(os.getpid(), profile):
        await pub.publish(events[0], topic=topic)  # connect and fetch the topic's metadata before the clock
        started = time.perf_counter()
        for chunk in _chunks(events, batch):
            results = await pub.publish_many(chunk, topic=topic)
            assert all(r.ok for r in results), next(r.error for r in results if not r.ok)
        return len(events) / (time.perf_counter() - started)


async def run_bare(settings: Settings, events: list[CloudEvent], batch: int, topic: str) -> float:
    async with Publisher(settings) as encoder:  # only to produce the identical records, before the clock
        records = [encoder.prepare(event).record for event in events]
    producer = AIOKafkaProducer(**producer_config(settings.kafka, settings.publisher))
    await producer.start()
    try:
        await producer.send_and_wait(topic, records[0].value, key=records[0].key, headers=records[0].headers)
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            acks = [
                await producer.send(topic, r.value, key=r.key, headers=r.headers)
                for r in records[start : start + batch]
            ]
            await asyncio.gather(*acks)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def measure_prepare(settings: Settings, events: list[CloudEvent]) -> float:
    """CPU time per event of the Publisher's own work (the part the bare producer does not do), best of 3."""
    publisher = Publisher(settings, schemas=SchemaRegistry.load())
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for event in events:
            publisher.prepare(event)
        best = min(best, (time.perf_counter() - started) / len(events))
    return best * 1e6


async def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
    events = list(demo_events(args.events, run_id=f"bench-{uuid.uuid4().hex[:6]}"))
    SchemaRegistry.load()  # fail fast on broken schemas before any timing
    bare: list[float] = []
    pub: list[float] = []
    for round_no in range(args.rounds):
        suffix = f"{uuid.uuid4().hex[:8]}-{round_no}"
        bare.append(await run_bare(settings, events, args.batch, f"bench.bare.{suffix}"))
        profile = args.profile if round_no == 0 else None  # the Publisher's side of the first round
        pub.append(await run_publisher(settings, events, args.batch, f"bench.publisher.{suffix}", profile))
        print(f"round {round_no + 1}: bare {bare[-1]:,.0f} ev/s, publisher {pub[-1]:,.0f} ev/s", flush=True)
    bare_eps, pub_eps = statistics.median(bare), statistics.median(pub)
    prepare_us = await measure_prepare(settings, events)
    print(f"Publisher.prepare (schema checks + envelope + encoding, no I/O): {prepare_us:.1f} us/event", flush=True)
    return {
        "events": args.events,
        "batch": args.batch,
        "rounds": args.rounds,
        "bare_aiokafka_events_per_s": round(bare_eps, 1),
        "publisher_events_per_s": round(pub_eps, 1),
        "ratio": round(pub_eps / bare_eps, 3),
        "publisher_prepare_us_per_event": round(prepare_us, 2),
        "bare_us_per_event": round(1e6 / bare_eps, 2),
        "publisher_us_per_event": round(1e6 / pub_eps, 2),
        "bare_rounds": [round(x, 1) for x in bare],
        "publisher_rounds": [round(x, 1) for x in pub],
        "producer": "aiokafka, enable_idempotence=True, acks=all, linger_ms and max_batch_size from settings",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "broker": bootstrap if os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS") else "local (started)",
    }


def broker() -> contextlib.AbstractContextManager[str]:
    """The configured cluster, or a local broker for the run."""
    from bridge.kafka.local import configured_or_local

    return configured_or_local()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None, help="write a py-spy flame graph of the Publisher (SVG)")
    args = parser.parse_args()
    with broker() as bootstrap:
        result = asyncio.run(measure(bootstrap, args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"bare aiokafka: {result['bare_aiokafka_events_per_s']:,.0f} events/s\n"
        f"Publisher:     {result['publisher_events_per_s']:,.0f} events/s\n"
        f"ratio:         {result['ratio']:.2f} (aim >= 0.8)   -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
