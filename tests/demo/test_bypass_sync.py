"""Trigger bypass on a 10,000-record sync: with it off the org's triggers run out of Apex CPU time in batches of
200 and the sink recovers with smaller batches, losing nothing; with it on no batch hits the CPU limit.

Both runs share one broker and use the Collections path (Bulk threshold out of reach), no latency, and neither
invalid nor redelivered records, to keep the focus on CPU time. Human-user writes still firing the bypassable
triggers is covered in tests/mediation/test_emulator.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.demo.nightly import NightlyOptions, run_nightly
from bridge.demo.nightly_report import NightlyReport
from bridge.demo.observe import total
from bridge.kafka.local import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]

ACCOUNTS = 8_000
OPPORTUNITIES = 2_000
RECORDS = ACCOUNTS + OPPORTUNITIES


class _Quiet:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, done: int) -> None:
        pass


async def _sync(workdir: Path, *, bypass: bool) -> tuple[NightlyReport, dict[str, dict[str, Any]]]:
    run_id = f"bypass-{'on' if bypass else 'off'}"
    options = NightlyOptions(
        workdir=workdir,
        accounts=ACCOUNTS,
        opportunities=OPPORTUNITIES,
        run_id=run_id,
        latency_speed=0.0,
        trigger_bypass=bypass,
        bulk_threshold_records=1_000_000,
        parent_wait_s=30.0,
        timeout_s=400.0,
        invalid_share=0.0,
        duplicate_share=0.0,
        out_of_order_share=0.0,
        delete_share=0.0,
        env={"BRIDGE_GOVERNOR__BUCKET_CAPACITY_CALLS": "2000"},
        isolate=True,
    )
    report = await run_nightly(options, _Quiet())
    metrics = orjson.loads((workdir / "metrics.json").read_bytes())
    return report, metrics


def _mean_batch(sink: dict[str, float]) -> float:
    records = total(sink, "bridge_batch_size_records_sum", path="collections")
    batches = total(sink, "bridge_batch_size_records_count", path="collections")
    return records / batches


async def test_bypass_off_costs_cpu_errors_and_smaller_batches_but_loses_nothing(
    local_kafka_node: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", local_kafka_node.bootstrap_servers)
    off, off_metrics = await _sync(tmp_path / "off", bypass=False)
    on, on_metrics = await _sync(tmp_path / "on", bypass=True)

    for report in (off, on):
        assert report.failures == []
        assert report.records_expected == RECORDS
        assert report.records_in_crm == {"Account": ACCOUNTS, "Opportunity": OPPORTUNITIES}
        assert report.duplicates_in_crm == report.missing_in_crm == report.wrong_in_crm == []
        assert report.dead_lettered == {}
        assert report.limit_errors == 0

    # Off: 200 Accounts cost 200 x 61 ms of trigger CPU, past the 10 s limit; the sink halves and resends.
    assert off.trigger_cpu_errors > 0
    assert total(off_metrics["sink"], "bridge_retries_total", reason="cpu_limit") > 0
    # On: only the essential triggers run and no batch runs out of CPU time.
    assert on.trigger_cpu_errors == 0
    assert total(on_metrics["sink"], "bridge_retries_total", reason="cpu_limit") == 0
    # Smaller batches and resent ones cost calls; both stay far below one call per record.
    assert _mean_batch(off_metrics["sink"]) < _mean_batch(on_metrics["sink"])
    assert on.api_calls < off.api_calls < RECORDS / 20
