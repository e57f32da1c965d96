"""Processor throughput beside a bare aiokafka consume → parse → produce passthrough, and dedupe state memory.

    .venv/bin/python benchmarks/processor.py [--events 20000] [--rounds 3] [--profile flame.svg]

Both sides read the same pre-published topic (the demo dataset: customers and deals, CloudEvents in Kafka
binary mode) and write every result with acks=all before committing. The passthrough decodes each record
(`decode_kafka`, orjson) and produces its value unchanged. The processor is a real worker process (faust,
the dedupe table and its changelog, map → dedupe → validate → route); its rate is measured from its first
accounted event to its last, read from its /metrics, so start-up and group join are not charged to either
side. Memory: the dedupe table's in-memory entries (key bytes → encoded state, as the faust memory store holds
them), measured with tracemalloc over 100,000 keys and scaled to a million.
Starts its own local broker unless BRIDGE_KAFKA__BOOTSTRAP_SERVERS is set. Writes results/processor.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from spy import profiling

from bridge.catalog.snapshot import OrgSnapshot, write_snapshot
from bridge.demo.dataset import demo_events
from bridge.events import decode_kafka, encode_kafka
from bridge.processing.dedupe import DedupeConfig, decide, encode_state
from bridge.processing.records import MappedRecord
from bridge.types import Lane

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "processor.json"
PARTITIONS = 6


def broker() -> contextlib.AbstractContextManager[str]:
    """The configured cluster, or a local broker for the run."""
    from bridge.kafka.local import configured_or_local

    return configured_or_local()


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


async def prepublish(bootstrap: str, topic: str, count: int, run_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for event in demo_events(count, run_id=run_id):
            record = encode_kafka(event)
            key = record.key or f"{event.id}".encode()
            futures.append(await producer.send(topic, record.value, key=key, headers=record.headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def passthrough(bootstrap: str, source: str, sink: str, count: int) -> dict[str, float]:
    """Consume, decode, produce (acks=all), commit; events/s from the first record consumed to the last acked,
    and this process's CPU time per event over the same span."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=1_000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    done, started, cpu_started = 0, None, 0.0
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=1_000, max_records=1_000)
            messages = [m for records in batch.values() for m in records]
            if not messages:
                continue
            if started is None:
                started, cpu_started = time.perf_counter(), time.process_time()
            futures = []
            for message in messages:
                event = decode_kafka(message.key, message.value, message.headers)
                futures.append(
                    await producer.send(sink, message.value, key=message.key, headers=[("ce_id", event.id.encode())])
                )
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(messages)
        assert started is not None
        cpu_us = (time.process_time() - cpu_started) / done * 1e6
        return {"events_per_s": done / (time.perf_counter() - started), "cpu_us_per_event": cpu_us}
    finally:
        await consumer.stop()
        await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _accounted(port: int) -> float:
    async with httpx.AsyncClient() as client:
        try:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=2)).text
        except httpx.HTTPError:
            return 0.0
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith("bridge_events_total{"))


def worker_env(bootstrap: str, source: str, prefix: str, repo: Path) -> dict[str, str]:
    """The environment of a benchmark worker: its app id (consumer group) and outputs named by `prefix`."""
    return {
        **os.environ,
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "BRIDGE_PROCESSOR__APP_ID": f"{prefix}-proc",
        "BRIDGE_PROCESSOR__SOURCE_TOPICS": json.dumps([source]),
        "BRIDGE_PROCESSOR__COALESCE_WINDOW_S": "0.1",
        "BRIDGE_TOPICS__REALTIME": f"{prefix}.rt",
        "BRIDGE_TOPICS__BULK": f"{prefix}.bulk",
        "BRIDGE_TOPICS__DLQ": f"{prefix}.dlq",
        "BRIDGE_TOPICS__PARTITIONS": str(PARTITIONS),
        "PYTHONPATH": str(repo),  # the worker of this checkout, or of the one compared with
    }


@contextlib.asynccontextmanager
async def workers(
    env: dict[str, str], org_dir: Path, logs: list[Path], repo: Path
) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, int]]]:
    """`len(logs)` worker processes of one group, each with its metrics port; stopped (SIGTERM) on exit."""
    started: list[tuple[asyncio.subprocess.Process, int]] = []
    with contextlib.ExitStack() as files:
        try:
            for log in logs:
                port, out = _free_port(), files.enter_context(log.open("wb"))
                command = [sys.executable, "-m", "bridge.processor", "--org-dir", str(org_dir)]
                command += ["--metrics-port", str(port)]
                process = await asyncio.create_subprocess_exec(
                    *command, env=env, cwd=repo, stdout=out, stderr=subprocess.STDOUT
                )
                started.append((process, port))
            yield started
        finally:
            for process, _ in started:
                process.send_signal(signal.SIGTERM)
            for process, _ in started:
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def rate(
    procs: list[tuple[asyncio.subprocess.Process, int]], count: int, profile: Path | None
) -> dict[str, float]:
    """Events/s of the workers together from their first accounted event to the last of `count`, and their
    CPU time per event over the same span."""
    first, first_at, last, cpu_at = 0.0, 0.0, 0.0, 0.0
    deadline = time.monotonic() + 600
    async with profiling(procs[0][0].pid, profile):
        while last < count and time.monotonic() < deadline:
            assert all(p.returncode is None for p, _ in procs), "a worker exited, see its log"
            last = sum([await _accounted(port) for _, port in procs])
            if last and not first:
                first, first_at = last, time.perf_counter()
                cpu_at = sum(cpu_seconds(p.pid) for p, _ in procs)
            await asyncio.sleep(0.05)
    assert last >= count, f"only {last} of {count} accounted, see the worker logs"
    cpu_us = (sum(cpu_seconds(p.pid) for p, _ in procs) - cpu_at) / (last - first) * 1e6
    return {"events_per_s": (last - first) / (time.perf_counter() - first_at), "cpu_us_per_event": cpu_us}


async def processor(
    bootstrap: str,
    source: str,
    prefix: str,
    *,
    count: int,
    org_dir: Path,
    log: Path,
    profile: Path | None = None,
    repo: Path = REPO,
) -> dict[str, float]:
    """Run a worker process over `source`; events/s from its first accounted event to its last."""
    async with workers(worker_env(bootstrap, source, prefix, repo), org_dir, [log], repo) as procs:
        return await rate(procs, count, profile)


async def _ready(logs: list[Path], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not all("Worker]: Ready" in log.read_text(errors="replace") for log in logs):
        assert time.monotonic() < deadline, f"workers not ready, see {logs}"
        await asyncio.sleep(0.2)


async def scaling_round(bootstrap: str, count: int, n: int, org_dir: Path, workdir: Path) -> dict[str, float]:
    """`n` workers of one group, ready before the input is published, then timed over `count` events."""
    prefix = f"scale{n}-{uuid.uuid4().hex[:8]}"
    source = f"{prefix}.domain"
    await create_topics(bootstrap, source, f"{prefix}.rt", f"{prefix}.bulk", f"{prefix}.dlq")
    logs = [workdir / f"{prefix}-{i}.log" for i in range(n)]
    async with workers(worker_env(bootstrap, source, prefix, REPO), org_dir, logs, REPO) as procs:
        await _ready(logs)
        await asyncio.sleep(3)  # the group settles: every worker has its partitions
        before = machine_busy()
        publishing = asyncio.create_task(prepublish(bootstrap, source, count, run_id=prefix))
        result = await rate(procs, count, None)
        await publishing
        result["machine_cpu_busy_percent"] = machine_busy(before)[1]
        return result


def machine_busy(since: tuple[float, float] | None = None) -> tuple[float, float]:
    """(busy, total) jiffies of all cores from /proc/stat; with `since`, (0, busy percent since then)."""
    values = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, total = values[3] + values[4], sum(values)
    if since is None:
        return total - idle, total
    busy, all_ = total - idle - since[0], total - since[1]
    return 0.0, 100 * busy / all_ if all_ else 0.0


async def scaling(bootstrap: str, args: argparse.Namespace, org_dir: Path, workdir: Path) -> dict[str, Any]:
    """One worker, then two of one group, alternating over the rounds; medians and their ratio."""
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for round_ in range(args.rounds):
        for n in (1, 2) if round_ % 2 == 0 else (2, 1):
            runs[n].append(await scaling_round(bootstrap, args.events, n, org_dir, workdir))
            print(
                f"  {n} worker(s): {runs[n][-1]['events_per_s']:,.0f} ev/s, "
                f"machine {runs[n][-1]['machine_cpu_busy_percent']:.0f}% busy",
                flush=True,
            )
    one, two = (statistics.median(r["events_per_s"] for r in runs[n]) for n in (1, 2))
    return {
        "one_worker_events_per_s": round(one, 1),
        "two_workers_events_per_s": round(two, 1),
        "scaling": round(two / one, 3),
        "machine_cpu_busy_percent": {n: [round(r["machine_cpu_busy_percent"]) for r in runs[n]] for n in (1, 2)},
        "cores": os.cpu_count(),
    }


def core_cost(org_dir: Path, count: int = 20_000, batch: int = 1_000) -> float:
    """CPU µs per event of the pure core alone (`process_batch`: decode, map, dedupe, validate, route), no I/O,
    in batches as the worker takes them, each seeing the states of the ones before; best of 3."""
    from bridge.config import Settings
    from bridge.processing.batch import InRecord, process_batch
    from bridge.processing.records import Origin
    from bridge.processor.worker import build_context, default_compiler

    settings = Settings()
    context = build_context(settings, org_dir, default_compiler(settings))
    records = []
    for n, event in enumerate(demo_events(count, run_id="core")):
        encoded = encode_kafka(event)
        records.append(InRecord(Origin("core", n % PARTITIONS, n), encoded.key, encoded.value, tuple(encoded.headers)))
    best = float("inf")
    for _ in range(3):
        states: dict[str, Any] = {}
        started = time.perf_counter()
        for start in range(0, count, batch):
            result = process_batch(records[start : start + batch], context, states.get)
            states.update((key, state) for key, (_, state) in result.states.items())
        best = min(best, (time.perf_counter() - started) / count)
    return best * 1e6


def state_memory(keys: int = 100_000) -> dict[str, float]:
    """Bytes per key of the table's entries, with and without the last applied values kept."""
    result: dict[str, float] = {}
    for keep_fields in (True, False):
        config = DedupeConfig(keep_fields=keep_fields)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        table: dict[bytes, bytes] = {}
        for n in range(keys):
            external_id = f"CUST-{n:08d}"
            fields = {
                "Name": f"Customer {n}",
                "Phone": "+44 20 7946 0000",
                "Industry": "Retail",
                "ERP_Customer_Id__c": external_id,
            }
            record = MappedRecord(
                "Account", "ERP_Customer_Id__c", external_id, fields, Lane.BULK, n, (f"evt-{n:012d}",)
            )
            applied = decide(None, record, config)
            table[f"Account:{external_id}".encode()] = encode_state(applied.state)  # type: ignore[union-attr]
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        label = "with_last_values" if keep_fields else "ids_version_hash_only"
        result[f"bytes_per_key_{label}"] = used / keys
        result[f"mib_per_million_keys_{label}"] = used / keys * 1_000_000 / 2**20
        del table
    floor = table_floor(keys)
    result["bytes_per_key_table_floor"] = floor
    result["mib_per_million_keys_table_floor"] = floor * 1_000_000 / 2**20
    return result


def table_floor(keys: int) -> float:
    """Bytes per key of the faust memory store's layout itself: the same keys, each with an empty value. No
    encoding of the state can take the table below this; only a different store can."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table = {f"Account:CUST-{n:08d}".encode(): b"" for n in range(keys)}
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del table
    return used / keys


def org_snapshot(directory: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.processing.conftest import ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE

    write_snapshot(directory, OrgSnapshot({"Account": ACCOUNT_DESCRIBE, "Opportunity": OPPORTUNITY_DESCRIBE}))
    return directory


async def _compared(
    bootstrap: str, source: str, args: argparse.Namespace, org_dir: Path, log: Path
) -> dict[str, float]:
    """The worker of another checkout (`--compare-with`) over the same input, with its own outputs."""
    prefix = f"cmp-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, f"{prefix}.rt", f"{prefix}.bulk", f"{prefix}.dlq")
    run = await processor(
        bootstrap, source, prefix, count=args.events, org_dir=org_dir, log=log, repo=args.compare_with
    )
    print(
        f"  compared ({args.compare_with}): {run['events_per_s']:,.0f} ev/s, {run['cpu_us_per_event']:.0f} us CPU/event"
    )
    return run


def _compare_summary(compared: list[dict[str, float]], proc_cpu: list[float]) -> dict[str, Any]:
    if not compared:
        return {}
    cpu = statistics.median(run["cpu_us_per_event"] for run in compared)
    return {
        "compared_events_per_s": round(statistics.median(run["events_per_s"] for run in compared), 1),
        "compared_cpu_us_per_event": round(cpu, 1),
        "cpu_per_event_vs_compared": round(statistics.median(proc_cpu) / cpu, 3),
    }


async def measure(bootstrap: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    org_dir = org_snapshot(workdir / "org")
    bare_rounds, proc_rounds, bare_cpu, proc_cpu = [], [], [], []
    compared: list[dict[str, float]] = []
    for round_ in range(args.rounds):
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        source = f"{prefix}.domain"
        await create_topics(
            bootstrap, source, f"{prefix}.passthrough", f"{prefix}.rt", f"{prefix}.bulk", f"{prefix}.dlq"
        )
        await prepublish(bootstrap, source, args.events, run_id=prefix)
        bare_run = await passthrough(bootstrap, source, f"{prefix}.passthrough", args.events)
        bare_rounds.append(bare_run["events_per_s"])
        bare_cpu.append(bare_run["cpu_us_per_event"])
        log = workdir / f"worker-{round_}.log"
        profile = args.profile if round_ == 0 else None
        compare_first = args.compare_with is not None and round_ % 2 == 1  # alternate who goes first
        if compare_first:
            compared.append(await _compared(bootstrap, source, args, org_dir, workdir / f"compared-{round_}.log"))
        run = await processor(bootstrap, source, prefix, count=args.events, org_dir=org_dir, log=log, profile=profile)
        proc_rounds.append(run["events_per_s"])
        proc_cpu.append(run["cpu_us_per_event"])
        if args.compare_with is not None and not compare_first:
            compared.append(await _compared(bootstrap, source, args, org_dir, workdir / f"compared-{round_}.log"))
        print(
            f"round {round_ + 1}: bare {bare_rounds[-1]:,.0f} ev/s ({bare_cpu[-1]:.0f} us CPU/event), "
            f"processor {proc_rounds[-1]:,.0f} ev/s ({proc_cpu[-1]:.0f} us CPU/event)",
            flush=True,
        )
    bare, proc = statistics.median(bare_rounds), statistics.median(proc_rounds)
    return {
        "events": args.events,
        "rounds": args.rounds,
        "partitions": PARTITIONS,
        "bare_passthrough_events_per_s": round(bare, 1),
        "processor_events_per_s": round(proc, 1),
        "ratio": round(proc / bare, 3),
        # CPU time per event of each side's process: far less disturbed by other load than events/s.
        "bare_cpu_us_per_event": round(statistics.median(bare_cpu), 1),
        "processor_cpu_us_per_event": round(statistics.median(proc_cpu), 1),
        "cpu_ratio": round(statistics.median(bare_cpu) / statistics.median(proc_cpu), 3),
        **_compare_summary(compared, proc_cpu),
        **({"two_workers": await scaling(bootstrap, args, org_dir, workdir)} if args.scaling else {}),
        "bare_rounds": [round(r, 1) for r in bare_rounds],
        "processor_rounds": [round(r, 1) for r in proc_rounds],
        "core_us_per_event": round(core_cost(org_dir), 2),
        "dedupe_state": {k: round(v, 1) for k, v in state_memory().items()},
        "python": platform.python_version(),
        "machine": platform.machine(),
        "broker": bootstrap if os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS") else "local (started)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compare-with",
        type=Path,
        default=None,
        help="a checkout of another commit: its worker runs in each round too",
    )
    parser.add_argument("--scaling", action="store_true", help="also time one worker against two of one group")
    parser.add_argument("--profile", type=Path, default=None, help="write a py-spy flame graph of round 1 (SVG)")
    args = parser.parse_args()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(bootstrap, args, Path(tmp)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    state = result["dedupe_state"]
    if "two_workers" in result:
        two = result["two_workers"]
        print(
            f"scaling:          1 worker {two['one_worker_events_per_s']:,.0f} ev/s, 2 workers "
            f"{two['two_workers_events_per_s']:,.0f} ev/s: x{two['scaling']:.2f} on {two['cores']} cores (aim >= 1.6)"
        )
    print(
        f"bare passthrough: {result['bare_passthrough_events_per_s']:,.0f} events/s\n"
        f"processor:        {result['processor_events_per_s']:,.0f} events/s\n"
        f"ratio:            {result['ratio']:.2f} (aim >= 0.6)\n"
        f"CPU per event:    bare {result['bare_cpu_us_per_event']:.0f} us, processor "
        f"{result['processor_cpu_us_per_event']:.0f} us (ratio {result['cpu_ratio']:.2f})\n"
        f"core alone:       {result['core_us_per_event']:.1f} us/event (decode, map, dedupe, validate, route; no I/O)\n"
        f"dedupe table:     {state['mib_per_million_keys_with_last_values']:,.0f} MiB per million keys "
        f"({state['mib_per_million_keys_ids_version_hash_only']:,.0f} MiB without last values; the table's keys "
        f"alone {state['mib_per_million_keys_table_floor']:,.0f} MiB; aim <= 64)   -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
