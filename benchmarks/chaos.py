"""Guaranteed delivery under faults: `crm-bridge demo --chaos` with several seeds, against the same run without faults.

    .venv/bin/python benchmarks/chaos.py [--seeds 1,2,3,4,5] [--accounts 4200] [--opportunities 1220] [--kills 2]

Each run is the whole chaos flow (`bridge.demo.chaos.run_chaos`): a fresh 3-broker KRaft cluster (replication
factor 3, `min.insync.replicas=2`, no topic until the roles create them), 2 processor workers, 2 sink workers and
the source as supervised processes started in a seeded order, and the seed's fault schedule (every instance
`kill -9`ed `--kills` times, one broker killed and restarted, a sink worker added and removed, 5% 503s, 2% of
writes dropped after their commit, 2% UNABLE_TO_LOCK_ROW, one token expiry, one Retry-After burst). The baseline is
the same deployment and flow with no fault at all (`ChaosOptions(faults=False)`), run once first; ratios are a
chaos run's wall time and API calls over the baseline's. Exit status 1 when any run breaks an invariant.
Writes benchmarks/results/chaos.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bridge.demo.chaos import ChaosOptions, ChaosReport, run_chaos

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"


class _Quiet:
    def stage(self, name: str, total: int) -> None: ...

    def advance(self, name: str, done: int) -> None: ...


def _figures(report: ChaosReport) -> dict[str, Any]:
    nightly, chaos = report.nightly, report.chaos
    return {
        "ok": report.ok,
        "failures": report.failures,
        "wall_s": nightly.wall_s,
        "api_calls": nightly.api_calls,
        "api_calls_minimum": nightly.api_calls_minimum,
        "records_in_crm": nightly.records_in_crm,
        "duplicates_in_crm": len(nightly.duplicates_in_crm),
        "missing_in_crm": len(nightly.missing_in_crm),
        "change_events": nightly.change_events,
        "kills": chaos["kills"],
        "kills_by_role": chaos["kills_by_role"],
        "broker_kills": chaos["broker_kills"],
        "rebalances": chaos["rebalances"],
        "faults_injected": chaos["faults_injected"],
        "recovery_s_max": chaos["recovery_s_max"],
        "extra_api_calls": chaos["extra_api_calls"],
    }


def _run(args: argparse.Namespace, seed: int, *, faults: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-bench-{seed}-"))
    options = ChaosOptions(
        workdir=workdir,
        accounts=args.accounts,
        opportunities=args.opportunities,
        seed=seed,
        kills_per_instance=args.kills,
        faults=faults,
        run_id=f"bench{seed}{int(time.time())}",
    )
    started = time.perf_counter()
    report = asyncio.run(run_chaos(options, _Quiet(), lambda line: print(line, flush=True)))
    figures = _figures(report) | {"seed": seed, "faults": faults, "run_s": round(time.perf_counter() - started, 1)}
    label = "chaos" if faults else "baseline (no faults)"
    print(
        f"{label} seed {seed}: {'OK' if report.ok else 'FAILED'} in {figures['wall_s']:.1f} s, "
        f"{figures['api_calls']} calls (minimum {figures['api_calls_minimum']}), kills {figures['kills']}, "
        f"broker kills {figures['broker_kills']}, rebalances {figures['rebalances']}, "
        f"slowest recovery {figures['recovery_s_max']} s",
        flush=True,
    )
    for failure in report.failures:
        print(f"  FAILED {failure}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--accounts", type=int, default=4_200)
    parser.add_argument("--opportunities", type=int, default=1_220)
    parser.add_argument("--kills", type=int, default=2, help="kill -9s per instance")
    args = parser.parse_args()
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    baseline = _run(args, seeds[0], faults=False)
    runs = [_run(args, seed, faults=True) for seed in seeds]
    for run in runs:
        run["wall_ratio_vs_baseline"] = round(run["wall_s"] / baseline["wall_s"], 2) if baseline["wall_s"] else None
        run["api_calls_ratio_vs_baseline"] = round(run["api_calls"] / baseline["api_calls"], 2)
    result = {
        "benchmark": "chaos",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "scale": {"accounts": args.accounts, "opportunities": args.opportunities, "kills_per_instance": args.kills},
        "baseline": baseline,
        "runs": runs,
        "all_green": all(run["ok"] for run in runs) and baseline["ok"],
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    sys.exit(0 if result["all_green"] else 1)


if __name__ == "__main__":
    main()
