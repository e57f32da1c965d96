"""The main job end to end on a broker of its own: publish, process, write to the emulator, flow back, report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.demo.nightly import NightlyOptions, run_nightly
from bridge.kafka.local import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]


class _Quiet:
    def __init__(self) -> None:
        self.stages: dict[str, int] = {}

    def stage(self, name: str, total: int) -> None:
        self.stages[name] = total

    def advance(self, name: str, done: int) -> None:
        assert name in self.stages


async def test_the_nightly_sync_holds_every_invariant(
    local_kafka_node: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", local_kafka_node.bootstrap_servers)
    options = NightlyOptions(
        workdir=tmp_path,
        accounts=600,
        opportunities=300,
        run_id="e2e",
        latency_speed=0.0,
        parent_wait_s=60.0,  # deals of customers that never existed must end sooner, once the upstream is drained
    )
    report = await run_nightly(options, _Quiet())
    assert report.failures == []
    assert report.records_in_crm["Account"] + report.records_in_crm["Opportunity"] == report.records_expected
    assert report.duplicates_in_crm == []
    assert report.limit_errors == 0
    assert report.skipped.get("duplicate", 0) > 0
    assert report.skipped.get("stale", 0) > 0
    assert report.deletes_expected > 0  # ~1% of the customers without deals, deleted at the source
    assert report.deletes_applied == report.deletes_expected
    assert report.resurrected == 0
    assert report.rejections_pre_validation > 0
    assert report.rejections_by_crm > 0
    assert report.change_events >= report.records_expected
    assert report.echoes_tagged == report.change_events
    # Parents before children, by event: the calls stay at the Collections minimum plus the few batches of deals
    # whose customer the CRM never had (they are sent once: their parent could have been in the org).
    assert report.api_calls <= report.api_calls_minimum + 3
    assert report.dead_lettered["sink"].get("parent_refused", 0) > 0  # deals of customers refused upstream
    assert report.wall_s < 40.0  # not a parent_wait_s of 60 s
    assert (tmp_path / "processor.log").exists()
