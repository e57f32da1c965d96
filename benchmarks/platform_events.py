"""Platform Events published per second: the bridge's PublishStream publisher beside one REST call per event.

    .venv/bin/python benchmarks/platform_events.py [--events 2000] [--batch 1] [--concurrency 8]

Both paths run against the emulator over real sockets in this process (its HTTP server and its gRPC Pub/Sub API),
with the emulator's latency model off, so what is compared is the protocol cost a client pays per event:

* ours: `EventPublisher.publish_events` (PublishStream, pipelined requests of `--batch` events, a result per
  event), `--concurrency` callers at once, as the sink's concurrent batches call it;
* baseline: the path the sink had before, `POST /services/data/vXX.X/sobjects/Order_Event__e` per event through the
  bridge's REST client, with the same concurrency.

events/s = events / wall time; the ratio is ours / baseline. Each path is run three times, alternating, and the
median is reported. Writes results/platform_events.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, Org
from bridge.pubsub.client import PubSubClient
from bridge.pubsub.publisher import EventPublisher, OutgoingEvent
from bridge.runtime.salesforce_roles import ClientCredentials
from bridge.salesforce import SalesforceClient, auth_from_settings

RESULTS = Path(__file__).resolve().parent / "results" / "platform_events.json"
SOBJECT = "Order_Event__e"


def fields(n: int) -> dict[str, Any]:
    return {"Order_Number__c": f"ORD-{n}", "Status__c": "Shipped", "Amount__c": 12.5}


async def timed(total: int, concurrency: int, one: Callable[[int], Awaitable[int]]) -> float:
    """Events/s of `one(start) -> events sent` called by `concurrency` workers until `total` events went."""
    next_start = 0
    lock = asyncio.Lock()

    async def worker() -> None:
        nonlocal next_start
        while True:
            async with lock:
                start, next_start = next_start, next_start + 1
            if start >= total:
                return
            await one(start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - began)


async def run(events: int, batch: int, concurrency: int, rounds: int) -> dict[str, Any]:
    org = Org(daily_limit=10_000_000)
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub_target is not None
        settings = SalesforceSettings(
            login_url=server.url,
            client_id="emulator-client-id",
            client_secret=SecretStr("emulator-client-secret"),
            auth_flow="client_credentials",
        )
        async with SalesforceClient(settings, auth_from_settings(settings)) as client:
            credentials = ClientCredentials(client, None)
            async with PubSubClient(server.pubsub_target, credentials=credentials, tls=False) as pubsub:
                publisher = EventPublisher(pubsub)
                requests = -(-events // batch)

                async def ours(start: int) -> int:
                    chunk = [OutgoingEvent(str(uuid.uuid4()), fields(start * batch + i)) for i in range(batch)]
                    outcomes = await publisher.publish_events(SOBJECT, chunk)
                    assert all(o.published for o in outcomes)
                    return len(chunk)

                async def baseline(start: int) -> int:
                    result = await client.create(SOBJECT, fields(start))
                    assert result.success
                    return 1

                await ours(0)  # schemas and streams warmed up on both paths
                await baseline(0)
                figures: dict[str, list[float]] = {"ours": [], "baseline": []}
                for _ in range(rounds):
                    figures["baseline"].append(await timed(events, concurrency, baseline))
                    figures["ours"].append(await timed(requests, concurrency, ours) * batch)
                await publisher.aclose()
    ours_s, base_s = statistics.median(figures["ours"]), statistics.median(figures["baseline"])
    return {
        "benchmark": "platform_events",
        "events": events,
        "batch": batch,
        "concurrency": concurrency,
        "rounds": rounds,
        "ours_events_per_s": round(ours_s, 1),
        "baseline_events_per_s": round(base_s, 1),
        "ratio": round(ours_s / base_s, 2),
        "ours_rounds": [round(x, 1) for x in figures["ours"]],
        "baseline_rounds": [round(x, 1) for x in figures["baseline"]],
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1, help="events per PublishRequest (the sink sends 1 today)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.batch, args.concurrency, args.rounds))
    print(
        f"Platform Events: PublishStream {result['ours_events_per_s']:,.0f}/s, REST per event "
        f"{result['baseline_events_per_s']:,.0f}/s, ratio {result['ratio']} (batch {args.batch})"
    )
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
