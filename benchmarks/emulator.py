"""Emulator throughput: sObject Collections upserts of 200 records over a real socket, beside a bare echo server.

    .venv/bin/python benchmarks/emulator.py [--requests 60] [--concurrency 4] [--rounds 3]

The emulator runs with its latency model off (speed 0), as a test or a bridge benchmark would use it. Each
request upserts 200 Accounts by `External_Id__c` through `PATCH /composite/sobjects/Account/External_Id__c`:
a first pass creates them, a second pass changes a field of the same records (a real update with a change
event). The baseline is a bare Starlette route on
the same uvicorn setup that parses the same body with orjson and answers a 200-item result list, so the ratio
is the emulator's cost over the HTTP stack alone. Both servers and the client share this process and event
loop; rounds alternate (baseline, emulator, ...) and the median of each is reported. Writes results/emulator.json.
The issue's bar: at least 5,000 upserted records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator import EmulatorServer, LatencyModel, Org

RESULTS = Path(__file__).resolve().parent / "results" / "emulator.json"
BATCH = 200
PATH = "/services/data/v62.0/composite/sobjects/Account/External_Id__c"


async def _echo(request: Request) -> Response:
    body = orjson.loads(await request.body())
    results = [{"id": "001000000000000AAA", "success": True, "errors": [], "created": True} for _ in body["records"]]
    return Response(orjson.dumps(results), media_type="application/json")


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def baseline_server() -> AsyncIterator[str]:
    """A bare Starlette echo of the same route on the same uvicorn setup; yields its URL."""
    app = Starlette(routes=[Route(PATH, _echo, methods=["PATCH"])])
    server = _Quiet(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def bodies(requests: int, tag: str, revenue: float = 1000.0) -> list[bytes]:
    """Request bodies of 200 Accounts each, external ids tagged with `tag`."""
    return [
        orjson.dumps(
            {
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": "Account"},
                        "External_Id__c": f"{tag}-{r}-{i}",
                        "Name": f"Account {r}-{i}",
                        "Industry": "Energy",
                        "Phone": "+1 555 0100",
                        "AnnualRevenue": revenue + i,
                    }
                    for i in range(BATCH)
                ],
            }
        )
        for r in range(requests)
    ]


async def run_pass(http: httpx.AsyncClient, payloads: list[bytes], concurrency: int, headers: dict[str, str]) -> float:
    """Records per second for sending every payload with `concurrency` requests in flight."""
    queue = list(payloads)

    async def worker() -> None:
        while queue:
            payload = queue.pop()
            response = await http.patch(PATH, content=payload, headers=headers)
            results = response.json()
            if response.status_code != 200 or not all(r["success"] for r in results):
                raise RuntimeError(f"upsert failed: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(payloads) * BATCH / (time.perf_counter() - started)


async def token(http: httpx.AsyncClient) -> dict[str, str]:
    """Client-credentials login; headers for the API calls."""
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Content-Type": "application/json"}


async def main(requests: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """Run the rounds and return the figures written to results/emulator.json."""
    org = Org(daily_limit=10_000_000, latency=LatencyModel(speed=0.0))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    figures: dict[str, list[float]] = {"baseline": [], "create": [], "update": []}
    async with (
        EmulatorServer(org) as emulator,
        baseline_server() as baseline_url,
        httpx.AsyncClient(base_url=emulator.url, limits=limits, timeout=60) as em,
        httpx.AsyncClient(base_url=baseline_url, limits=limits, timeout=60) as base,
    ):
        headers = await token(em)
        for round_number in range(rounds):
            payloads = bodies(requests, f"R{round_number}")
            figures["baseline"].append(await run_pass(base, payloads, concurrency, headers))
            figures["create"].append(await run_pass(em, payloads, concurrency, headers))
            changed = bodies(requests, f"R{round_number}", revenue=2000.0)  # same records, a changed field
            figures["update"].append(await run_pass(em, changed, concurrency, headers))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {
        "benchmark": "emulator collections upsert",
        "records_per_request": BATCH,
        "requests_per_pass": requests,
        "concurrency": concurrency,
        "rounds": rounds,
        "records_per_s": {name: round(value) for name, value in medians.items()},
        "requests_per_s": {name: round(value / BATCH, 1) for name, value in medians.items()},
        "ratio_to_baseline": {name: round(medians[name] / medians["baseline"], 3) for name in ("create", "update")},
        "meets_5000_records_per_s": min(medians["create"], medians["update"]) >= 5000,
        "records_in_org": org.count("Account"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }


def cli() -> None:
    """Parse arguments, run, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(main(args.requests, args.concurrency, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    rps = result["records_per_s"]
    print(f"baseline echo      {rps['baseline']:>8} records/s")
    print(f"emulator create    {rps['create']:>8} records/s  ({result['ratio_to_baseline']['create']:.2f} x baseline)")
    print(f"emulator update    {rps['update']:>8} records/s  ({result['ratio_to_baseline']['update']:.2f} x baseline)")
    print(f"meets 5,000 records/s: {result['meets_5000_records_per_s']}  -> {RESULTS}")


if __name__ == "__main__":
    cli()
