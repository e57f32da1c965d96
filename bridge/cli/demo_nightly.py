"""Rendering of `crm-bridge demo`: progress bars while the sync runs, the report as a table and as JSON."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge.demo.nightly import NightlyOptions, run_nightly
from bridge.demo.nightly_report import NightlyReport


class _Bars:
    """The demo's `Progress` protocol on rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def stage(self, name: str, total: int) -> None:
        self._tasks[name] = self._progress.add_task(name, total=total or None)

    def advance(self, name: str, done: int) -> None:
        self._progress.update(self._tasks[name], completed=done)


def run_nightly_demo(options: dict[str, Any], *, latency_speed: float, trigger_bypass: bool) -> bool:
    """Run the demo with progress bars, print and write the report; True when every invariant held."""
    for noisy in ("httpx", "aiokafka"):  # the demo polls /metrics twice a second; group joins are not news here
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = Console()
    nightly = NightlyOptions(**options, latency_speed=latency_speed, trigger_bypass=trigger_bypass)
    console.print(
        f"nightly sync: {nightly.accounts:,} accounts, {nightly.opportunities:,} opportunities "
        f"(~3% invalid, 5% redelivered, 1% out of order); daily API limit {nightly.daily_limit:,}"
    )
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        report = asyncio.run(run_nightly(nightly, _Bars(progress)))
    path = Path(nightly.workdir) / "report.json"
    path.write_bytes(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2))
    console.print(_table(report))
    for role, url in report.metrics_urls.items():
        console.print(f"  {role} metrics were served at {url} (roles stop with the demo; `crm-bridge run` keeps them)")
    console.print(f"report written to {path}")
    if report.ok:
        console.print("[green]OK: every invariant held[/]")
    for failure in report.failures:
        console.print(f"[red]FAILED[/] {failure}")
    return report.ok


def _table(report: NightlyReport) -> Table:
    table = Table(title="nightly sync", show_header=False)
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.skipped.items())) or "none"
    rows = [
        ("wall time", f"{report.wall_s:,.1f} s"),
        ("events published", f"{report.events_published:,} ({report.events_distinct:,} distinct)"),
        ("records in the CRM", ", ".join(f"{k} {v:,}" for k, v in report.records_in_crm.items())),
        ("events written", f"{report.written_events:,}"),
        ("skipped", skipped),
        ("dead-lettered before the CRM", _reasons(_before_crm(report))),
        ("dead-lettered by the CRM", _reasons(report.dead_lettered.get("sink", {}))),
        ("API calls", f"{report.api_calls:,} ({report.api_share:.2%} of {report.daily_limit:,})"),
        ("calls vs minimum", f"{report.api_calls_ratio:.2f}x the Collections minimum of {report.api_calls_minimum:,}"),
        ("Bulk API jobs", f"{report.bulk_jobs}"),
        ("limit errors", f"{report.limit_errors}"),
        ("trigger CPU errors", f"{report.trigger_cpu_errors}"),
        ("retries", f"{report.retries}"),
        ("duplicates in the CRM", f"{len(report.duplicates_in_crm)}"),
        ("missing or wrong", f"{len(report.missing_in_crm)} missing, {len(report.wrong_in_crm)} wrong"),
        ("change events back", f"{report.change_events:,} ({report.echoes_tagged:,} tagged as echoes)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _reasons(reasons: dict[str, int]) -> str:
    return f"{sum(reasons.values()):,}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items()))


def _before_crm(report: NightlyReport) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for stage, counts in report.dead_lettered.items():
        if stage != "sink":
            for reason, n in counts.items():
                reasons[f"{stage}/{reason}"] = reasons.get(f"{stage}/{reason}", 0) + n
    return reasons
