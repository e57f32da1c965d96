"""Sink throughput and API efficiency against the emulator's realistic latency model, beside a naive baseline.

    .venv/bin/python benchmarks/sink.py [--accounts 42000] [--opportunities 12200] [--naive 2000] [--speed 1.0]
                                        [--paths collections,bulk]

Ours: the records (Accounts, then Opportunities that reference them by external ID) are pre-published on a
fresh `crm.writes.bulk` topic (6 partitions); one sink worker (`run_sink`, burst mode) writes them through the
governor with the real client into an emulated org (`crm-bridge emulator --speed 1`, its own process, over a
real socket), produces every outcome to
`crm.results` with acks=all and commits. Wall time runs from the start of the worker until it is caught up and
idle (group join included). `collections` sends sObject Collections upserts only (Bulk threshold off);
`bulk` lets backlogs of 10,000+ records go as Bulk API 2.0 jobs.
Naive: one REST upsert per record (`PATCH /sobjects/Account/External_Id__c/<id>`), 10 at a time, no governor,
no Kafka, on `--naive` Accounts; its rate is what "one call per record" costs against the same latency model.
The governor's bucket is sized for the backfill (`bucket_capacity_calls` = the calls the run needs); with the
default 50 it would spread the run over the day, which is its job but not what is measured here.
Starts its own local broker unless BRIDGE_KAFKA__BOOTSTRAP_SERVERS is set. Writes benchmarks/results/sink.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bridge.config import GovernorSettings, KafkaSettings, SalesforceSettings, Settings, SinkSettings, TopicSettings
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.processing.routing import write_message
from bridge.salesforce import SalesforceClient, auth_from_settings
from bridge.sink.runner import build_gate, run_sink
from bridge.types import Lane

RESULTS = Path(__file__).resolve().parent / "results" / "sink.json"
PARTITIONS = 6
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = SecretStr("emulator-client-secret")


def broker() -> contextlib.AbstractContextManager[str]:
    """The configured cluster, or a local broker for the run."""
    from bridge.kafka.local import configured_or_local

    return configured_or_local()


def records(accounts: int, opportunities: int) -> list[MappedRecord]:
    """Accounts, then Opportunities that reference them by external ID (parents first, as a sync sends them)."""
    out = [
        MappedRecord(
            "Account",
            "External_Id__c",
            f"ACC-{n}",
            {"Name": f"Account {n}", "Industry": "Technology", "BillingCity": "Lyon"},
            Lane.BULK,
            1,
            (f"evt-a-{n}",),
        )
        for n in range(accounts)
    ]
    for n in range(opportunities):
        fields: dict[str, Any] = {
            "Name": f"Deal {n}",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
            "Amount": 1_000 + n,
            "Account": {"External_Id__c": f"ACC-{n % max(accounts, 1)}"},
        }
        out.append(MappedRecord("Opportunity", "External_Id__c", f"OPP-{n}", fields, Lane.BULK, 1, (f"evt-o-{n}",)))
    return out


async def _topics(bootstrap: str) -> TopicSettings:
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"bench.sink.{kind}.{suffix}" for kind in ("realtime", "bulk", "results", "dlq")}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names.values()])
    finally:
        await admin.close()
    return TopicSettings(**names)


async def _publish(bootstrap: str, topics: TopicSettings, batch: list[MappedRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1_048_576)
    await producer.start()
    try:
        for start in range(0, len(batch), 5_000):
            futures = []
            for record in batch[start : start + 5_000]:
                out = write_message(record, topics)
                futures.append(await producer.send(out.topic, out.value, key=out.key))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def emulator(speed: float) -> AsyncIterator[str]:
    """`crm-bridge emulator` in its own process (Salesforce is remote: it must not share the sink's event loop)."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "crm-bridge"),
        "emulator",
        "--port",
        "0",
        "--speed",
        str(speed),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = ""
        while not url:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
            if not line:
                raise RuntimeError("the emulator exited before serving")
            if "instance URL" in line:
                url = line.split()[-1]
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


def _client_settings(url: str) -> SalesforceSettings:
    return SalesforceSettings(
        login_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, auth_flow="client_credentials"
    )


async def _used(client: SalesforceClient) -> int:
    """Calls used in the org's window, from `/limits` (which counts itself: the caller subtracts it)."""
    limits = (await client.limits())["DailyApiRequests"]
    return int(limits["Max"]) - int(limits["Remaining"])


async def _count(client: SalesforceClient, sobject: str) -> int:
    response = await client.request(
        "query",
        "GET",
        f"{client.base_path}/query",
        params={"q": f"SELECT COUNT() FROM {sobject}"},  # noqa: S608 - a constant SObject name
    )
    return int(response.json()["totalSize"])


async def ours(bootstrap: str, args: argparse.Namespace, path: str) -> dict[str, Any]:
    """One sink worker on the whole dataset; the figures the issue asks for."""
    batch = records(args.accounts, args.opportunities)
    topics = await _topics(bootstrap)
    await _publish(bootstrap, topics, batch)
    minimum_calls = math.ceil(args.accounts / 200) + math.ceil(args.opportunities / 200)
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=topics,
        sink=SinkSettings(
            group_id=f"bench-sink-{uuid.uuid4().hex[:8]}",
            bulk_threshold_records=10_000 if path == "bulk" else 10**9,
        ),
        governor=GovernorSettings(bucket_capacity_calls=max(50, 2 * minimum_calls)),
    )
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator(args.speed) as url:
        sf_settings = _client_settings(url)
        auth = auth_from_settings(sf_settings)
        async with SalesforceClient(sf_settings, auth, on_limit_info=gate.observe, metrics=metrics) as client:
            used_before = await _used(client)
            started = time.perf_counter()
            stats = await run_sink(settings, client, gate, asyncio.Event(), metrics=metrics, burst=True)
            wall_s = time.perf_counter() - started
            calls = await _used(client) - used_before - 1
            written = await _count(client, "Account") + await _count(client, "Opportunity")
    limit_errors = metrics.registry.get_sample_value("bridge_salesforce_limit_errors_total") or 0.0
    return {
        "path": path,
        "records": len(batch),
        "written": written,
        "results_produced": stats.written,
        "dead_lettered": stats.dead_lettered,
        "wall_s": round(wall_s, 2),
        "records_per_s": round(len(batch) / wall_s, 1),
        "api_calls": calls,
        "minimum_calls_collections": minimum_calls,
        "calls_over_minimum_pct": round(100.0 * (calls - minimum_calls) / minimum_calls, 2),
        "records_per_call": round(len(batch) / max(calls, 1), 1),
        "api_calls_per_1000_records": round(1_000 * calls / len(batch), 2),
        "limit_errors": int(limit_errors),
    }


async def naive(args: argparse.Namespace) -> dict[str, Any]:
    """One REST upsert per record, ten at a time, no governor."""
    batch = records(args.naive, 0)
    gate = asyncio.Semaphore(10)
    async with emulator(args.speed) as url:
        sf_settings = _client_settings(url)
        async with SalesforceClient(sf_settings, auth_from_settings(sf_settings)) as client:

            async def one(record: MappedRecord) -> None:
                async with gate:
                    await client.upsert(record.sobject, record.external_id_field, record.external_id, record.fields)

            used_before = await _used(client)
            started = time.perf_counter()
            await asyncio.gather(*(one(record) for record in batch))
            wall_s = time.perf_counter() - started
            calls = await _used(client) - used_before - 1
    return {
        "records": len(batch),
        "wall_s": round(wall_s, 2),
        "records_per_s": round(len(batch) / wall_s, 1),
        "api_calls": calls,
        "api_calls_per_1000_records": round(1_000 * calls / len(batch), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "latency_speed": args.speed,
        "ours": {},
    }
    with broker() as bootstrap:
        for path in args.paths.split(","):
            report["ours"][path] = await ours(bootstrap, args, path)
    report["naive"] = await naive(args)
    naive_rate = report["naive"]["records_per_s"]
    naive_calls = report["naive"]["api_calls_per_1000_records"]
    report["ratios"] = {
        path: {
            "records_per_s_vs_naive": round(result["records_per_s"] / naive_rate, 2),
            "api_calls_vs_naive": round(result["api_calls_per_1000_records"] / naive_calls, 4),
        }
        for path, result in report["ours"].items()
    }
    return report


def _print(report: dict[str, Any]) -> None:
    naive_result = report["naive"]
    print(f"naive: {naive_result['records_per_s']} records/s, {naive_result['api_calls_per_1000_records']} calls/1000")
    for path, result in report["ours"].items():
        ratio = report["ratios"][path]
        print(
            f"{path}: {result['records']} records in {result['wall_s']} s ({result['records_per_s']} records/s), "
            f"{result['api_calls']} API calls (minimum {result['minimum_calls_collections']}, "
            f"{result['records_per_call']} records/call), limit errors {result['limit_errors']}, "
            f"written {result['written']}, dead-lettered {result['dead_lettered']}; vs naive: "
            f"x{ratio['records_per_s_vs_naive']} records/s, x{ratio['api_calls_vs_naive']} calls"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=42_000)
    parser.add_argument("--opportunities", type=int, default=12_200)
    parser.add_argument("--naive", type=int, default=2_000, help="records for the one-call-per-record baseline")
    parser.add_argument("--speed", type=float, default=1.0, help="emulator latency scale (1.0 = realistic)")
    parser.add_argument("--paths", default="collections,bulk")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    _print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
