"""Parents with their children: Composite Graph beside sObject Collections, in API calls and wall time.

    .venv/bin/python benchmarks/graph.py [--accounts 600] [--children 2] [--speed 0.2]

Both write `--accounts` Accounts, each with `--children` Opportunities that reference it, through the bridge's
client into the emulator (a real socket, `LatencyModel(speed=...)`, so requests, records and trigger CPU cost
wall time in proportion to a real org). Baseline, what the sink does today: Collections upserts of the
Accounts (200 per call), then of the Opportunities (200 per call, the parent by external ID). Ours: one graph
per Account with its children (upsert nodes, the children's `AccountId` = `@{account.id}`), as many graphs per
request as the documented limits allow (75 graphs, 500 nodes). Graphs make a parent and its children one
transaction (no child waits for its parent's outcome); this measures what that costs. Writes
benchmarks/results/graph.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, LatencyModel, Org
from bridge.salesforce import ClientCredentials, Graph, SalesforceClient, reference, upsert_node
from bridge.salesforce.composite import MAX_GRAPH_NODES, MAX_GRAPHS

RESULTS = Path(__file__).resolve().parent / "results" / "graph.json"
BATCH = 200
CLIENT_ID = "emulator-client-id"
SECRET = SecretStr("emulator-client-secret")


def _deal(account: int, child: int, parent: Any) -> dict[str, Any]:
    return {
        "Name": f"Deal {account}-{child}",
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "Amount": 100.0,
        **parent,
    }


async def collections(sf: SalesforceClient, accounts: int, children: int) -> int:
    """Parents, then children: the records the run wrote."""
    parents = [{"External_Id__c": f"C-{a}", "Name": f"Account {a}"} for a in range(accounts)]
    deals = [
        {"External_Id__c": f"C-{a}-{c}", **_deal(a, c, {"Account": {"External_Id__c": f"C-{a}"}})}
        for a in range(accounts)
        for c in range(children)
    ]
    written = 0
    for sobject, records in (("Account", parents), ("Opportunity", deals)):
        for start in range(0, len(records), BATCH):
            results = await sf.upsert_collection(sobject, "External_Id__c", records[start : start + BATCH], True)
            written += sum(r.success for r in results)
    return written


async def graphs(sf: SalesforceClient, accounts: int, children: int) -> int:
    """One graph per parent with its children, packed up to the documented limits."""
    base = sf.base_path
    all_graphs = []
    for a in range(accounts):
        nodes = [upsert_node(base, "Account", "External_Id__c", f"G-{a}", {"Name": f"Account {a}"}, reference_id="a")]
        nodes += [
            upsert_node(
                base,
                "Opportunity",
                "External_Id__c",
                f"G-{a}-{c}",
                _deal(a, c, {"AccountId": reference("a")}),
                reference_id=f"o{c}",
            )
            for c in range(children)
        ]
        all_graphs.append(Graph(f"g{a}", tuple(nodes)))
    per_request = min(MAX_GRAPHS, MAX_GRAPH_NODES // (children + 1))
    written = 0
    for start in range(0, len(all_graphs), per_request):
        for result in await sf.composite_graph(all_graphs[start : start + per_request]):
            written += len(result.ids()) if result.is_successful else 0
    return written


async def measure(
    name: str, write: Callable[[SalesforceClient, int, int], Awaitable[int]], args: argparse.Namespace
) -> dict[str, Any]:
    org = Org(latency=LatencyModel(speed=args.speed))
    async with EmulatorServer(org) as server:
        settings = SalesforceSettings(login_url=server.url, client_id=CLIENT_ID)
        async with SalesforceClient(settings, ClientCredentials(server.url, CLIENT_ID, SECRET)) as sf:
            await sf.limits()  # log in before the clock starts
            before = org.api_usage.used()
            started = time.perf_counter()
            written = await write(sf, args.accounts, args.children)
            seconds = time.perf_counter() - started
            calls = org.api_usage.used() - before
    expected = args.accounts * (1 + args.children)
    if written != expected or org.count("Opportunity") != args.accounts * args.children:
        raise SystemExit(f"{name}: wrote {written} of {expected} records")
    return {"calls": calls, "seconds": round(seconds, 3), "records_per_s": round(written / seconds)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=600)
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--speed", type=float, default=0.2)
    args = parser.parse_args(argv)
    baseline = asyncio.run(measure("collections", collections, args))
    ours = asyncio.run(measure("graph", graphs, args))
    records = args.accounts * (1 + args.children)
    result = {
        "benchmark": "composite graph vs collections, parents with children",
        "accounts": args.accounts,
        "children_per_account": args.children,
        "records": records,
        "speed": args.speed,
        "collections": baseline,
        "graph": ours,
        "collections_minimum_calls": math.ceil(args.accounts / BATCH)
        + math.ceil(args.accounts * args.children / BATCH),
        "ratio_to_baseline": {
            "calls": round(ours["calls"] / baseline["calls"], 2),
            "seconds": round(ours["seconds"] / baseline["seconds"], 2),
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for name in ("collections", "graph"):
        figures = result[name]
        print(
            f"{name:12} {figures['calls']:4} calls  {figures['seconds']:7.2f} s  {figures['records_per_s']:6} records/s"
        )
    ratio = result["ratio_to_baseline"]
    print(f"graph / collections: calls x{ratio['calls']}, time x{ratio['seconds']}")
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
