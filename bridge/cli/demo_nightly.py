"""Rendering of `crm-bridge demo`: progress bars while the sync runs, the report as a table and as JSON."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge.demo.nightly import NightlyOptions, run_nightly
from bridge.demo.nightly_report import NightlyReport
from bridge.demo.stack import RoleDied


class _Bars:
    """The demo's `Progress` protocol on rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def stage(self, name: str, total: int) -> None:
        self._tasks[name] = self._progress.add_task(name, total=total or None)

    def advance(self, name: str, done: int) -> None:
        self._progress.update(self._tasks[name], completed=done)


def run_nightly_demo(
    options: dict[str, Any], *, latency_speed: float, trigger_bypass: bool, as_json: bool = False
) -> bool:
    """Run the demo with progress bars, print and write the report; True when every invariant held.

    With `as_json`, stdout carries the report as JSON alone (for scripts); the bars and words go to stderr."""
    for noisy in ("httpx", "aiokafka"):  # the demo polls /metrics twice a second; group joins are not news here
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = Console(stderr=as_json)
    nightly = NightlyOptions(**options, latency_speed=latency_speed, trigger_bypass=trigger_bypass)
    console.print(
        f"nightly sync: {nightly.accounts:,} accounts, {nightly.opportunities:,} opportunities "
        f"(~3% invalid, 5% redelivered, 1% out of order); daily API limit {nightly.daily_limit:,}"
    )
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            report = asyncio.run(run_nightly(nightly, _Bars(progress)))
    except RoleDied as died:
        console.print(f"[red]FAILED[/] {died}", highlight=False, markup=True)
        if died.log_tail:
            console.print(f"the last lines of {died.log_path}:", highlight=False)
            console.print(died.log_tail, markup=False, highlight=False)
        else:
            console.print(f"{died.log_path} is empty (the roles log warnings and errors only)", highlight=False)
        return False
    path = Path(nightly.workdir) / "report.json"
    document = orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2)
    path.write_bytes(document)
    if as_json:
        sys.stdout.write(document.decode() + "\n")
    _print_report(console, report, path)
    return report.ok


def _print_report(console: Console, report: NightlyReport, path: Path) -> None:
    for renderable in report_tables(report):
        console.print(renderable)
    if report.metrics_urls:
        console.print("the roles' metrics were served at (they stop with the demo; `crm-bridge run` keeps them):")
    for role, url in report.metrics_urls.items():
        console.print(f"  {role:<10} {url}", highlight=False)
    console.print(f"report written to {path}")
    if report.ok:
        console.print("[green]OK: every invariant held[/]")
    for failure in report.failures:
        console.print(f"[red]FAILED[/] {failure}")


def report_tables(report: NightlyReport) -> list[Table]:
    """The headline table (what a user asks first, short enough for 80 columns) and the dead letters by reason."""
    table = Table(title="nightly sync", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.skipped.items())) or "none"
    before, by_crm = sum(_before_crm(report).values()), sum(report.dead_lettered.get("sink", {}).values())
    rows = [
        ("wall time", f"{report.wall_s:,.1f} s"),
        ("events published", f"{report.events_published:,} ({report.events_distinct:,} distinct)"),
        ("records in the CRM", ", ".join(f"{k} {v:,}" for k, v in report.records_in_crm.items())),
        ("events written", f"{report.written_events:,}"),
        ("skipped", skipped),
        ("dead-lettered", f"{before:,} before the CRM, {by_crm:,} by the CRM"),
        ("API calls", f"{report.api_calls:,} ({report.api_share:.2%} of {report.daily_limit:,})"),
        ("calls vs minimum", f"{report.api_calls_ratio:.2f}x the minimum of {report.api_calls_minimum:,}"),
        ("Bulk API jobs", f"{report.bulk_jobs}"),
        ("limit / CPU errors", f"{report.limit_errors} / {report.trigger_cpu_errors}"),
        ("retries", f"{report.retries}"),
        ("duplicates in the CRM", f"{len(report.duplicates_in_crm)}"),
        ("missing or wrong", f"{len(report.missing_in_crm)} missing, {len(report.wrong_in_crm)} wrong"),
        ("deletes", f"{report.deletes_applied:,} of {report.deletes_expected:,}, {report.resurrected} resurrected"),
        ("change events back", f"{report.change_events:,} ({report.echoes_tagged:,} echoes)"),
        ("invariants", "every one held" if report.ok else f"{len(report.failures)} failed"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    reasons = Table("stage", "reason", "records", title="dead letters")
    reasons.columns[1].overflow = "fold"
    reasons.columns[2].justify = "right"
    for (stage, reason), count in sorted(_letters(report).items()):
        reasons.add_row(stage, reason, f"{count:,}")
    return [table, reasons] if reasons.row_count else [table]


def _letters(report: NightlyReport) -> dict[tuple[str, str], int]:
    """Dead letters by (stage, reason), the stage `crm` for the sink's (refused by Salesforce or for its parent)."""
    letters: dict[tuple[str, str], int] = {}
    for stage, counts in report.dead_lettered.items():
        for reason, n in counts.items():
            key = ("crm" if stage == "sink" else stage, reason.removeprefix("validation_rule:"))
            letters[key] = letters.get(key, 0) + n
    return letters


def _before_crm(report: NightlyReport) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for stage, counts in report.dead_lettered.items():
        if stage != "sink":
            for reason, n in counts.items():
                reasons[f"{stage}/{reason}"] = reasons.get(f"{stage}/{reason}", 0) + n
    return reasons
