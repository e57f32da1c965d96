"""What `crm-bridge demo` prints: a report that reads whole at 80 columns, `--json` for scripts, and a plain line
(never a traceback) when a role dies."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from bridge.cli.demo_nightly import report_tables
from bridge.demo.nightly_report import NightlyReport
from bridge.kafka.local import LocalKafka


def _report() -> NightlyReport:
    """The full demo's figures, with the long reasons and large numbers a real run has."""
    return NightlyReport(
        wall_s=1234.5,
        events_published=57_479,
        events_distinct=54_772,
        records_expected=52_283,
        records_in_crm={"Account": 40_784, "Opportunity": 11_499},
        written_events=52_283,
        skipped={"duplicate": 2_630, "stale": 572},
        dead_lettered={
            "validate": {
                "validation_rule:Account_Phone_Format": 619,
                "validation_rule:Account_Website_Format": 597,
                "validation_rule:Opportunity_Closed_Won_Needs_Amount": 282,
            },
            "sink": {"parent_refused": 335, "parent_not_found": 84},
        },
        rejections_pre_validation=1_498,
        rejections_by_crm=419,
        api_calls=14_265,
        api_calls_minimum=263,
        api_calls_by_kind={"collections": 14_264, "auth": 1},
        bulk_jobs=7,
        daily_limit=15_000,
        limit_errors=0,
        trigger_cpu_errors=0,
        retries=84,
        duplicates_in_crm=[],
        missing_in_crm=[],
        wrong_in_crm=[],
        deletes_expected=412,
        deletes_applied=412,
        resurrected=0,
        change_events=62_540,
        echoes_tagged=62_540,
        metrics_urls={},
        failures=["an invariant that failed, to show the line"],
    )


def _render(width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    for table in report_tables(_report()):
        console.print(table)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def _cells(output: str) -> list[str]:
    """The cells of every row: the text between the box's vertical lines, stripped."""
    return [cell.strip() for line in output.splitlines() for cell in re.split(r"[│┃]", line)[1:-1]]


def test_the_report_reads_whole_at_80_columns() -> None:
    output = _render(80)
    assert max(len(line) for line in output.splitlines()) <= 80
    assert "…" not in output
    cells = _cells(output)
    # every headline value and every reason is in one cell, not cut and not folded over two lines
    for whole in (
        "1,234.5 s",
        "57,479 (54,772 distinct)",
        "Account 40,784, Opportunity 11,499",
        "1,498 before the CRM, 419 by the CRM",
        "14,265 (95.10% of 15,000)",
        "54.24x the minimum of 263",
        "62,540 (62,540 echoes)",
        "1 failed",
        "Opportunity_Closed_Won_Needs_Amount",
        "parent_not_found",
    ):
        assert whole in cells, (whole, output)
    assert tuple(next(line for line in output.splitlines() if "parent_refused" in line).replace("│", " ").split()) == (
        "crm",
        "parent_refused",
        "335",
    )


def test_a_narrower_terminal_folds_but_never_cuts() -> None:
    output = _render(60)
    assert max(len(line) for line in output.splitlines()) <= 60
    assert "…" not in output
    assert "Opportunity_Closed_Won_Needs_Amo" in output.replace("\n", "").replace("│", "").replace(" ", "")


def _demo(workdir: Path, bootstrap: str, *extra: str, accounts: int = 40) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bridge", "demo", "--accounts", str(accounts), "--opportunities", "10"]
    return subprocess.Popen(
        [*command, "--no-latency", "--workdir", str(workdir), "--bootstrap-servers", bootstrap, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "80"},
    )


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_json_prints_the_report_alone_on_stdout(local_kafka_node: LocalKafka, tmp_path: Path) -> None:
    demo = _demo(tmp_path, local_kafka_node.bootstrap_servers, "--json")
    stdout, stderr = demo.communicate(timeout=280)
    assert demo.returncode == 0, stderr[-3_000:]
    report = orjson.loads(stdout)
    assert report["ok"] is True
    assert report == orjson.loads((tmp_path / "report.json").read_bytes())
    assert "nightly sync" in stderr  # the words went to stderr


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_role_ends_the_demo_with_a_plain_line_and_its_log(
    local_kafka_node: LocalKafka, tmp_path: Path
) -> None:
    demo = _demo(tmp_path, local_kafka_node.bootstrap_servers, accounts=5_000)  # still syncing when the kill comes
    assert demo.stderr is not None
    pid = None
    deadline = time.monotonic() + 120
    lines: list[str] = []
    while pid is None and time.monotonic() < deadline:
        line = demo.stderr.readline()
        if not line:
            break
        lines.append(line)
        if match := re.search(r"started sink \(pid (\d+)\)", line):
            pid = int(match.group(1))
    assert pid is not None, "".join(lines)
    time.sleep(1.0)  # let it start its work
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = demo.communicate(timeout=200)
    output = "".join(lines) + stderr + stdout
    assert demo.returncode == 1, output[-3_000:]
    assert "Traceback" not in output
    assert f"role sink was killed by SIGKILL (exit code -9); its log: {tmp_path / 'sink.log'}" in " ".join(
        output.split()
    )
    words = " ".join(output.split())
    log_text = (tmp_path / "sink.log").read_text().strip()
    if log_text:  # whatever the sink had logged is shown
        assert f"the last lines of {tmp_path / 'sink.log'}: {' '.join(log_text.splitlines()[-1].split())}" in words
    else:
        assert f"{tmp_path / 'sink.log'} is empty" in words
