"""The nightly sync measured end to end: trigger bypass on vs off, Collections vs Bulk API 2.0, API calls vs minimum.

    .venv/bin/python benchmarks/nightly_sync.py [--scale 1.0] [--speed 1.0] [--runs collections_bypass_on,...]

Each run is the whole `crm-bridge demo` flow (`bridge.demo.nightly.run_nightly`): the scenario (42,000 accounts
and 12,200 opportunities at `--scale 1`, with its invalid, redelivered and out-of-order events) published through
the Publisher, `crm-bridge run processor|sink|source` as processes, a fresh emulated org (15,000-call daily limit,
`LatencyModel(speed=--speed)`, default profile and its triggers), and the report's invariants checked record by
record. The runs share one Kafka broker (started here unless `BRIDGE_KAFKA__BOOTSTRAP_SERVERS` is set); unique
run ids, and consumer groups and source checkpoints of each run's own (`NightlyOptions.isolate`), keep them apart.

Runs (all by default):
- `collections_bypass_on` / `collections_bypass_off`: the integration user's Integration_Bypass__c on or off,
  sObject Collections only. Off, the bypassable triggers cost ~61 ms of Apex CPU per Account and ~116 per
  Opportunity (its roll-up updates the parent), so 200-record batches pass the 10 s CPU limit and the sink must
  halve them. The seed system reports 23 → 8 minutes (ratio 0.35).
- `bulk_bypass_on`: the Bulk API 2.0 path (`sink.bulk_threshold_records` = 10,000 x scale, at least 200).
- `bulk_bypass_off` (only when asked for): Bulk API 2.0 with the bypass off.
The governor's token bucket holds the default 1,000 calls (`crm-bridge demo` runs with it), or 5x the minimum
calls when that is more: a smaller burst spreads a run over the day once spent, which is the governor's job but
not what is measured (a 20% run with the bypass off spent a 275-call burst on CPU-limit retries, then crawled at
the day's spread rate, ~0.2 calls/s). Wall time runs from starting the roles until every event has an outcome.
Exit status 1 when a run fails or breaks an invariant.
Writes benchmarks/results/nightly_sync.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.demo.nightly import NightlyOptions, run_nightly
from bridge.demo.nightly_report import NightlyReport
from bridge.demo.observe import by_label, total
from bridge.kafka.local import LocalKafka

RESULTS = Path(__file__).resolve().parent / "results" / "nightly_sync.json"
ACCOUNTS, OPPORTUNITIES = 42_000, 12_200
COLLECTIONS_RECORDS = 200
BULK_MIN_CALLS_PER_JOB = 6  # create, upload, close, one poll, successfulResults, failedResults
BULK_THRESHOLD = 10_000
SEED_RATIO = 8 / 23  # the seed system's nightly job: 23 minutes with triggers, 8 with the bypass


@dataclass(frozen=True, slots=True)
class Run:
    """One measured configuration."""

    name: str
    bypass: bool
    bulk: bool


RUNS = {
    run.name: run
    for run in (
        Run("collections_bypass_on", bypass=True, bulk=False),
        Run("collections_bypass_off", bypass=False, bulk=False),
        Run("bulk_bypass_on", bypass=True, bulk=True),
        Run("bulk_bypass_off", bypass=False, bulk=True),
    )
}
DEFAULT_RUNS = "collections_bypass_on,collections_bypass_off,bulk_bypass_on"


class _Progress:
    """One line per stage and a dot every 10 % (the benchmark's output stays readable in a log)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._totals: dict[str, int] = {}
        self._shown: dict[str, int] = {}

    def stage(self, name: str, total: int) -> None:
        self._totals[name], self._shown[name] = total, 0
        print(f"  [{self.name}] {name} ({total})", flush=True)

    def advance(self, name: str, done: int) -> None:
        step = max(1, self._totals.get(name, 0) // 10)
        if done >= self._shown.get(name, 0) + step:
            self._shown[name] = done
            print(f"  [{self.name}] {name}: {done}/{self._totals.get(name, 0)}", flush=True)


@contextlib.contextmanager
def broker() -> Iterator[None]:
    """One broker for every run: the configured one, else a local one whose address the roles inherit."""
    if os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS"):
        yield
        return
    with LocalKafka() as kafka:
        os.environ["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
        try:
            yield
        finally:
            del os.environ["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"]


def options(run: Run, args: argparse.Namespace, workdir: Path, run_id: str) -> NightlyOptions:
    """The nightly options of one run."""
    accounts, opportunities = round(ACCOUNTS * args.scale), round(OPPORTUNITIES * args.scale)
    minimum = math.ceil(accounts / COLLECTIONS_RECORDS) + math.ceil(opportunities / COLLECTIONS_RECORDS)
    env = {"BRIDGE_GOVERNOR__BUCKET_CAPACITY_CALLS": str(max(1_000, 5 * minimum))}
    return NightlyOptions(
        workdir=workdir,
        accounts=accounts,
        opportunities=opportunities,
        run_id=run_id,
        latency_speed=args.speed,
        trigger_bypass=run.bypass,
        bulk_threshold_records=bulk_threshold(args.scale) if run.bulk else 1_000_000_000,
        timeout_s=args.timeout_s,
        env=env,
        isolate=True,
    )


def bulk_threshold(scale: float) -> int:
    """The Bulk API threshold scaled with the data, so small runs still take the Bulk path."""
    return max(COLLECTIONS_RECORDS, round(BULK_THRESHOLD * min(1.0, scale)))


def minimum_calls(report: NightlyReport, *, bulk: bool) -> dict[str, int]:
    """The fewest calls that can write the records: 200 per Collections call, or one job per sObject."""
    per_sobject = report.records_in_crm
    if bulk:
        jobs = sum(1 for count in per_sobject.values() if count)
        return {"jobs": jobs, "calls_per_job": BULK_MIN_CALLS_PER_JOB, "calls": jobs * BULK_MIN_CALLS_PER_JOB}
    return {"calls": sum(math.ceil(count / COLLECTIONS_RECORDS) for count in per_sobject.values())}


def batch_figures(sink: dict[str, float], path: str) -> dict[str, float]:
    """Writes of one path: how many, how many records they carried, and the mean size."""
    count = total(sink, "bridge_batch_size_records_count", path=path)
    records = total(sink, "bridge_batch_size_records_sum", path=path)
    return {"count": int(count), "records": int(records), "mean_size": round(records / count, 1) if count else 0.0}


def figures(run: Run, opts: NightlyOptions, report: NightlyReport, sink: dict[str, float]) -> dict[str, Any]:
    """What one run measured, from its report and the sink's last metrics."""
    minimum = minimum_calls(report, bulk=run.bulk)
    batches = {path: batch_figures(sink, path) for path in ("collections", "bulk")}
    return {
        "ok": report.ok,
        "failures": report.failures,
        "trigger_bypass": run.bypass,
        "bulk_threshold_records": opts.bulk_threshold_records,
        "accounts": opts.accounts,
        "opportunities": opts.opportunities,
        "records_in_crm": report.records_in_crm,
        "wall_s": report.wall_s,
        "api_calls": report.api_calls,
        "api_calls_by_kind": {
            k: int(v) for k, v in by_label(sink, "bridge_salesforce_api_calls_total", "kind").items()
        },
        "minimum": minimum,
        "calls_over_minimum": report.api_calls - minimum["calls"],
        "api_share_of_daily_limit": round(report.api_share, 4),
        "daily_limit": report.daily_limit,
        "trigger_cpu_errors": report.trigger_cpu_errors,
        "retries": report.retries,
        "retries_by_reason": {k: int(v) for k, v in by_label(sink, "bridge_retries_total", "reason").items()},
        "limit_errors": report.limit_errors,
        "batches": batches,
        "dead_lettered": report.dead_lettered,
        "skipped": report.skipped,
    }


async def measure(run: Run, args: argparse.Namespace, base: Path, stamp: str) -> dict[str, Any]:
    """One run on a fresh org; a crash is reported as a failed run, not raised, so the others still run."""
    run_id = f"nb{stamp}-{run.name.replace('_', '-')}"
    workdir = base / run.name
    opts = options(run, args, workdir, run_id)
    print(f"{run.name}: {opts.accounts} accounts + {opts.opportunities} opportunities, run id {run_id}", flush=True)
    try:
        report = await run_nightly(opts, _Progress(run.name))
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"{run.name}: FAILED: {exc}", flush=True)
        return {"ok": False, "failures": [f"{type(exc).__name__}: {exc}"], "trigger_bypass": run.bypass}
    sink = json.loads((workdir / "metrics.json").read_text()).get("sink", {})
    return figures(run, opts, report, sink)


def comparisons(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Bypass on vs off and Collections vs Bulk, where both runs of a pair succeeded."""
    out: dict[str, Any] = {}
    on, off = runs.get("collections_bypass_on", {}), runs.get("collections_bypass_off", {})
    if on.get("ok") and off.get("ok"):
        out["bypass"] = {
            "wall_ratio_on_vs_off": round(on["wall_s"] / off["wall_s"], 3),
            "faster_pct": round(100 * (1 - on["wall_s"] / off["wall_s"]), 1),
            "seed_ratio": round(SEED_RATIO, 3),
            "api_calls_on": on["api_calls"],
            "api_calls_off": off["api_calls"],
            "trigger_cpu_errors_on": on["trigger_cpu_errors"],
            "trigger_cpu_errors_off": off["trigger_cpu_errors"],
        }
    bulk = runs.get("bulk_bypass_on", {})
    if on.get("ok") and bulk.get("ok"):
        out["paths"] = {
            "collections": {"api_calls": on["api_calls"], "wall_s": on["wall_s"]},
            "bulk": {"api_calls": bulk["api_calls"], "wall_s": bulk["wall_s"]},
            "bulk_calls_vs_collections": round(bulk["api_calls"] / on["api_calls"], 3),
            "bulk_wall_vs_collections": round(bulk["wall_s"] / on["wall_s"], 3),
            "bulk_jobs": bulk["batches"]["bulk"]["count"],
        }
        if not bulk["batches"]["bulk"]["count"]:  # the threshold was never reached: both runs measured Collections
            out["paths"]["note"] = "no Bulk API job ran: never enough records pending at once for the threshold"
    return out


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every selected run, one after the other, on one broker."""
    stamp = time.strftime("%H%M%S")
    base = Path(args.workdir or tempfile.mkdtemp(prefix="nightly-bench-"))
    runs: dict[str, dict[str, Any]] = {}
    with broker():
        for name in args.runs.split(","):
            runs[name] = await measure(RUNS[name], args, base, stamp)
    return {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "scale": args.scale,
        "latency_speed": args.speed,
        "workdir": str(base),
        "runs": runs,
        "comparisons": comparisons(runs),
    }


def show(result: dict[str, Any]) -> None:
    """The figures as a table, then the comparisons."""
    print(f"\nscale {result['scale']}, latency speed {result['latency_speed']}")
    header = f"{'run':<24}{'ok':>4}{'wall s':>9}{'calls':>7}{'min':>6}{'share':>8}{'cpu err':>9}{'retries':>9}"
    print(header + f"{'mean batch':>12}")
    for name, run in result["runs"].items():
        if "wall_s" not in run:
            print(f"{name:<24}{'no':>4}  {run['failures']}")
            continue
        mean = run["batches"]["collections"]["mean_size"]
        print(
            f"{name:<24}{'yes' if run['ok'] else 'NO':>4}{run['wall_s']:>9.1f}{run['api_calls']:>7}"
            f"{run['minimum']['calls']:>6}{run['api_share_of_daily_limit']:>8.2%}{run['trigger_cpu_errors']:>9}"
            f"{run['retries']:>9}{mean:>12}"
        )
        for failure in run["failures"]:
            print(f"    invariant broken: {failure}")
    for name, figures_ in result["comparisons"].items():
        print(f"{name}: {json.dumps(figures_)}")


def main() -> None:
    """Parse the flags, run, print, write the JSON; exit 1 when any run failed or broke an invariant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of 42,000 accounts + 12,200 opportunities")
    parser.add_argument("--speed", type=float, default=1.0, help="emulator latency scale (1.0 = realistic, 0 = off)")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--timeout-s", type=float, default=3_600.0, help="per run, until every event has an outcome")
    parser.add_argument("--workdir", default=None, help="where the runs' logs go (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    unknown = set(args.runs.split(",")) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    result = asyncio.run(run_all(args))
    show(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    failed = [name for name, run in result["runs"].items() if not run.get("ok")]
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the failures above)")
        sys.exit(1)
    print("OK: every run held every invariant")


if __name__ == "__main__":
    main()
