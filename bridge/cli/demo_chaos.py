"""Rendering of `crm-bridge demo --chaos`: the schedule, progress bars, the demo's tables and the chaos table."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge.cli.demo_nightly import _Bars, report_tables
from bridge.demo.chaos import ChaosOptions, ChaosReport, run_chaos


def run_chaos_demo(options: ChaosOptions, *, as_json: bool = False) -> bool:
    """Run the chaos demo, print and write report.json (with its `chaos` section); True when every invariant held."""
    for noisy in ("httpx", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    console = Console(stderr=as_json)
    console.print(
        f"chaos run: {options.accounts:,} accounts, {options.opportunities:,} opportunities, 3 brokers, "
        f"2 processors, 2 sinks, the source; seed {options.seed}",
        highlight=False,
    )
    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        report = asyncio.run(run_chaos(options, _Bars(progress), lambda line: console.print(line, highlight=False)))
    path = options.workdir / "report.json"
    document = orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2)
    Path(path).write_bytes(document)
    if as_json:
        sys.stdout.write(document.decode() + "\n")
    for renderable in [*report_tables(report.nightly), chaos_table(report)]:
        console.print(renderable)
    console.print(f"report written to {path}")
    if report.ok:
        console.print("[green]OK: every invariant held under the faults[/]")
    for failure in report.failures:
        console.print(f"[red]FAILED[/] {failure}", highlight=False)
    return report.ok


def chaos_table(report: ChaosReport) -> Table:
    """The faults executed and what they cost."""
    chaos = report.chaos
    table = Table(title="chaos", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    kills = ", ".join(f"{role} {n}" for role, n in sorted(chaos["kills_by_role"].items()))
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(chaos["faults_injected"].items()))
    recovery = chaos["recovery_s_max"]
    rows = [
        ("kill -9 of roles", f"{chaos['kills']} ({kills})"),
        ("broker kills", str(chaos["broker_kills"])),
        ("rebalances", f"{chaos['rebalances']} (a sink worker added and removed)"),
        ("emulator faults", faults),
        ("slowest recovery", f"{recovery:.1f} s" if recovery is not None else "not measured"),
        ("extra API calls", f"{chaos['extra_api_calls']} over the minimum"),
        ("invariants", "every one held" if report.ok else f"{len(report.failures)} failed"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
