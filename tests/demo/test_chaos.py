"""The chaos run: its seeded schedule, its checker failing on broken invariants, and a short run in CI."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from bridge.config import TopicSettings
from bridge.demo.chaos import INSTANCES, ChaosOptions, run_chaos
from bridge.demo.chaos_check import change_failures, letter_failures
from bridge.demo.chaos_plan import BROKER_KILL, BROKER_RESTART, KILL, WORKER_ADD, WORKER_REMOVE, plan_chaos
from bridge.demo.observe import Letter, Outcomes
from bridge.emulator import Org


class _Quiet:
    def stage(self, name: str, total: int) -> None: ...

    def advance(self, name: str, done: int) -> None: ...


def test_the_schedule_is_seeded_and_kills_every_instance_as_often_as_asked() -> None:
    plan = plan_chaos(seed=3, instances=INSTANCES, duration_s=90, kills_per_instance=2)
    assert plan == plan_chaos(seed=3, instances=INSTANCES, duration_s=90, kills_per_instance=2)
    assert plan != plan_chaos(seed=4, instances=INSTANCES, duration_s=90, kills_per_instance=2)
    kills = Counter(a.target for a in plan.actions if a.kind == KILL)
    assert kills == dict.fromkeys(INSTANCES, 2)
    counts = plan.counts()
    assert counts[BROKER_KILL] == counts[BROKER_RESTART] == counts[WORKER_ADD] == counts[WORKER_REMOVE] == 1
    times = [a.at_s for a in plan.actions if a.kind == KILL]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))  # never bunched
    assert sorted(plan.start_order) == sorted(INSTANCES)
    lines = plan.describe()
    assert "seed 3" in lines[0]
    assert len(lines) == 2 + len(plan.actions)
    with pytest.raises(ValueError, match="at least 20 s"):
        plan_chaos(seed=1, instances=INSTANCES, duration_s=5)


def test_the_checker_fails_on_a_change_event_or_a_dead_letter_written_twice() -> None:
    org = Org()
    outcomes = Outcomes("unused:9092", TopicSettings(), "run")
    outcomes.change_copies[("/data/AccountChangeEvent", "0001")] = 2
    outcomes.letter_copies[("run-1",)] = 2
    outcomes.letters[("run-1",)] = Letter(("run-1",), "validate", "not_evaluable", "")
    changes = change_failures(outcomes, org, ("/data/AccountChangeEvent",))
    assert any("written twice" in f for f in changes)
    assert any("0 in the org, 1 in Kafka" in f for f in changes)
    assert letter_failures(outcomes) == ["dead letters exactly once: 1 twice, by stage validate 1 (e.g. ['run-1'])"]
    outcomes.change_copies.clear()
    outcomes.letter_copies[("run-1",)] = 1
    assert change_failures(outcomes, org, ("/data/AccountChangeEvent",)) == []
    assert letter_failures(outcomes) == []


@pytest.mark.kafka
@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.xfail(
    reason="open findings of the chaos run (README, Guarantees): valid events dead-lettered by the sink under "
    "faults, CRM refusals dead-lettered twice, change events written twice after a broker kill",
    strict=False,
)
async def test_a_short_chaos_run_holds_every_invariant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One kill per instance, a broker kill, a rebalance, every emulator fault, at small scale."""
    monkeypatch.setenv("GRPC_ENABLE_FORK_SUPPORT", "0")
    options = ChaosOptions(
        workdir=tmp_path,
        accounts=300,
        opportunities=100,
        seed=5,
        kills_per_instance=1,
        duration_s=40.0,
        latency_speed=0.0,
        timeout_s=400.0,
        run_id="cichaos",
    )
    lines: list[str] = []
    report = await run_chaos(options, _Quiet(), lines.append)
    chaos = report.chaos
    assert report.failures == [], "\n".join([*report.failures, *chaos["executed"]])
    assert chaos["kills"] == len(INSTANCES)
    assert chaos["broker_kills"] == 1
    assert chaos["rebalances"] == 2
    assert chaos["faults_injected"].get("unavailable", 0) > 0
    assert report.nightly.records_in_crm["Account"] > 0
    assert lines[0].startswith("chaos schedule (seed 5)")
