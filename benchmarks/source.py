"""Change events/s from the emulator's Pub/Sub API into Kafka, and end-to-end latency, beside a plain baseline.

    .venv/bin/python benchmarks/source.py [--events 20000] [--rate 1000] [--seconds 5]

The emulator's change feed and Pub/Sub gRPC server run in this process; the source (`run_source`, transactional,
one Kafka transaction per Pub/Sub batch of up to 100 events with its checkpoint) runs as a separate process, as
it would in production. A read_committed consumer in this process stamps when each event became readable.

* throughput: a burst of `--events` changes is appended to the feed; events/s = events / (last one readable -
  first one appended).
* latency: changes appended at `--rate` per second for `--seconds`; latency = readable - appended, p50 and p99.

The baseline is the same CloudEvent records (byte-identical, built before the clock starts) produced straight to
Kafka from this process by a transactional producer configured as the source's (`transactional_producer`), one
transaction per Pub/Sub batch size (100) in the burst and per 10 ms tick in the latency phase, measured the same
way; the source may put up to 10 batches in one transaction (group commit). The ratio is source / baseline.
Starts its own local broker unless BRIDGE_KAFKA__BOOTSTRAP_SERVERS is set.
Writes results/source.json.
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
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from spy import profiling

from bridge.config import KafkaSettings, Settings, SourceSettings, TopicSettings
from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.pubsub_server import PubSubServer
from bridge.events.envelope import encode_kafka
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.pubsub.client import Credentials
from bridge.source.changes import ChangeEvent, to_cloud_event
from bridge.source.runner import transactional_producer

RESULTS = Path(__file__).resolve().parent / "results" / "source.json"
FIELDS = [("Name", "string"), ("Phone", "phone"), ("AnnualRevenue", "currency"), ("SystemModstamp", "datetime")]
RECORDS = 1000
BATCH = 100
CHILD = "--source-child"


class Changes:
    """Generates Account changes; `header(n)`/`values(n)` are what the feed gets, `record(n)` what Kafka gets."""

    def header(self, n: int) -> dict[str, Any]:
        return {
            "entityName": "Account",
            "recordIds": [f"001{n % RECORDS:015d}"],
            "changeType": "UPDATE",
            "changeOrigin": "com/salesforce/api/rest/62.0;client=erp-sync",
            "transactionKey": f"tx-{n}",
            "sequenceNumber": 1,
            "commitTimestamp": 1_700_000_000_000 + n,
            "commitNumber": n,
            "commitUser": "005000000000001AAA",
            "changedFields": ["Name", "Phone", "AnnualRevenue", "SystemModstamp"],
        }

    def values(self, n: int) -> dict[str, Any]:
        return {"Name": f"Account {n}", "Phone": "+1 555 0100", "AnnualRevenue": 1000.0 + n, "SystemModstamp": n}

    def record(self, n: int) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        header = self.header(n)
        event = ChangeEvent(
            entity="Account",
            change_type="UPDATE",
            record_ids=tuple(header["recordIds"]),
            fields=self.values(n),
            changed_fields=tuple(header["changedFields"]),
            change_origin=header["changeOrigin"],
            transaction_key=header["transactionKey"],
            sequence_number=1,
            commit_timestamp_ms=header["commitTimestamp"],
            commit_number=n,
            commit_user=header["commitUser"],
            replay_id=f"{n:016x}",
            channel="/data/ChangeEvents",
        )
        kafka = encode_kafka(to_cloud_event(event, source="salesforce:pubsub/data/ChangeEvents"))
        return kafka.key, kafka.value, list(kafka.headers)


class Readable:
    """A read_committed consumer noting when each event id (`ce_id`) became readable."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._bootstrap, self._topic, self._partitions = bootstrap, topic, partitions
        self.seen_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Readable:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        partitions = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run(consumer))
        return self

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        event_id = next(v for k, v in record.headers if k == "ce_id").decode()
                        self.seen_at.setdefault(event_id, now)
        finally:
            await consumer.stop()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, event_ids: Sequence[str], timeout_s: float = 120) -> float:
        """When the last of `event_ids` became readable."""
        deadline = time.perf_counter() + timeout_s
        waiting = [e for e in event_ids if e not in self.seen_at]
        while waiting:
            waiting = [e for e in waiting if e not in self.seen_at]
            if waiting and time.perf_counter() > deadline:
                missing = sum(e not in self.seen_at for e in event_ids)
                raise TimeoutError(f"{missing} of {len(event_ids)} events never became readable")
            await asyncio.sleep(0.01)
        return max(self.seen_at[e] for e in event_ids)


def event_id(n: int) -> str:
    return f"tx-{n}:1"


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies_s, n=100)
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}


async def paced(rate: int, seconds: float, start_n: int) -> AsyncIterator[list[int]]:
    """Yields lists of change numbers every 10 ms so that `rate` per second are produced for `seconds`."""
    per_tick, ticks = max(1, rate // 100), int(seconds * 100)
    began = time.perf_counter()
    for tick in range(ticks):
        yield list(range(start_n + tick * per_tick, start_n + (tick + 1) * per_tick))
        await asyncio.sleep(max(0.0, began + (tick + 1) / 100 - time.perf_counter()))


# --- the source, in its own process ------------------------------------------------------------------------------
async def _static_credentials(fresh: bool) -> Credentials:
    return Credentials("bench-token", "https://emulator.example", "00D000000000001AAA")


class _NoReconciliation:
    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]:
        return []

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        return []


def _child_main(settings_json: str) -> None:
    from bridge.source.runner import run_source

    settings = Settings(**json.loads(settings_json))
    asyncio.run(run_source(settings, credentials=_static_credentials, reconciler=_NoReconciliation()))


@contextlib.asynccontextmanager
async def source_process(settings: Settings, profile: Path | None = None) -> AsyncIterator[asyncio.subprocess.Process]:
    payload = settings.model_dump_json(include={"kafka", "topics", "source", "salesforce", "publisher"})
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, CHILD, payload)
    try:
        async with profiling(proc.pid, profile):
            yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


def settings_for(bootstrap: str, target: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(cdc_prefix=f"bench{run}.crm.cdc.", source_checkpoints=f"bench{run}.checkpoints"),
        source=SourceSettings(
            pubsub_target=target,
            pubsub_tls=False,
            channels=("/data/ChangeEvents",),
            transactional_id=f"bench-source-{run}",
            num_requested=BATCH,
        ),
    )


async def measure_source(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    changes, warmup = Changes(), args.warmup
    feed = PubSubFeed(clock=time.time, session_valid=lambda token: True)
    feed.register_entity("Account", FIELDS)
    for n in range(warmup + args.events):  # appended before the source starts: the pipeline alone is timed
        feed.append_change("Account", changes.header(n), changes.values(n))
    async with PubSubServer(feed) as server:
        settings = settings_for(bootstrap, server.target)
        topic = f"{settings.topics.cdc_prefix}Account"
        await ensure_topics(settings.kafka, [TopicSpec(topic, settings.topics.partitions, 1, {})])
        async with (
            Readable(bootstrap, topic, settings.topics.partitions) as readable,
            source_process(settings, args.profile),
        ):
            warm_done = await readable.wait_for([event_id(n) for n in range(warmup)])
            burst_done = await readable.wait_for([event_id(n) for n in range(warmup, warmup + args.events)])
            appended: dict[str, float] = {}
            async for numbers in paced(args.rate, args.seconds, warmup + args.events):
                for n in numbers:
                    appended[event_id(n)] = time.perf_counter()
                    feed.append_change("Account", changes.header(n), changes.values(n))
            await readable.wait_for(list(appended))
    latencies = [readable.seen_at[e] - t for e, t in appended.items()]
    return {"events_per_s": round(args.events / (burst_done - warm_done), 1), **percentiles(latencies)}


# --- the baseline: the same records straight to Kafka from a plain transactional producer ------------------------
async def _transaction(producer: AIOKafkaProducer, topic: str, records: Sequence[Any]) -> None:
    async with producer.transaction():
        for key, value, headers in records:
            await producer.send(topic, value, key=key, headers=headers)


async def measure_baseline(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    changes, warmup = Changes(), args.warmup
    settings = settings_for(bootstrap, "unused:0")
    topic = f"{settings.topics.cdc_prefix}Account"
    await ensure_topics(settings.kafka, [TopicSpec(topic, settings.topics.partitions, 1, {})])
    records = [changes.record(n) for n in range(warmup + args.events)]
    producer = transactional_producer(settings)  # the source's own producer configuration
    await producer.start()
    try:
        async with Readable(bootstrap, topic, settings.topics.partitions) as readable:
            await _transaction(producer, topic, records[:warmup])
            warm_done = await readable.wait_for([event_id(n) for n in range(warmup)])
            for start in range(warmup, warmup + args.events, BATCH):
                await _transaction(producer, topic, records[start : start + BATCH])
            burst_done = await readable.wait_for([event_id(n) for n in range(warmup, warmup + args.events)])
            appended: dict[str, float] = {}
            async for numbers in paced(args.rate, args.seconds, warmup + args.events):
                tick = [changes.record(n) for n in numbers]  # what the source would have read from its stream
                for n in numbers:
                    appended[event_id(n)] = time.perf_counter()
                await _transaction(producer, topic, tick)
            await readable.wait_for(list(appended))
    finally:
        await producer.stop()
    latencies = [readable.seen_at[e] - t for e, t in appended.items()]
    return {"events_per_s": round(args.events / (burst_done - warm_done), 1), **percentiles(latencies)}


async def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    source = await measure_source(bootstrap, args)
    print(f"source:   {source}", flush=True)
    baseline = await measure_baseline(bootstrap, args)
    print(f"baseline: {baseline}", flush=True)
    return {
        "events": args.events,
        "latency_rate_per_s": args.rate,
        "latency_seconds": args.seconds,
        "transaction_size": BATCH,
        "source": source,
        "baseline_transactional_producer": baseline,
        "throughput_ratio": round(source["events_per_s"] / baseline["events_per_s"], 3),
        "p50_latency_ratio": round(source["p50_ms"] / baseline["p50_ms"], 2),
        "p99_latency_ratio": round(source["p99_ms"] / baseline["p99_ms"], 2),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "broker": bootstrap if os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS") else "local (started)",
    }


def broker() -> contextlib.AbstractContextManager[str]:
    """The configured cluster, or a local broker for the run."""
    from bridge.kafka.local import configured_or_local

    return configured_or_local()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == CHILD:
        _child_main(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1_000, help="changes per second in the latency phase")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency phase")
    parser.add_argument("--profile", type=Path, default=None, help="write a py-spy flame graph of the source (SVG)")
    args = parser.parse_args()
    with broker() as bootstrap:
        result = asyncio.run(measure(bootstrap, args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    source, baseline = result["source"], result["baseline_transactional_producer"]
    print(
        f"source (Pub/Sub -> Kafka): {source['events_per_s']:,.0f} events/s  "
        f"p50 {source['p50_ms']} ms  p99 {source['p99_ms']} ms\n"
        f"baseline (producer only):  {baseline['events_per_s']:,.0f} events/s  "
        f"p50 {baseline['p50_ms']} ms  p99 {baseline['p99_ms']} ms\n"
        f"source/baseline: throughput {result['throughput_ratio']:.2f}, p50 {result['p50_latency_ratio']:.2f}x, "
        f"p99 {result['p99_latency_ratio']:.2f}x   (aim: source >= 5,000 events/s)   -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
