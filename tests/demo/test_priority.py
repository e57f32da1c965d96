"""Real-time first, on the running pipeline: benchmarks/priority.py in a few seconds per phase (CI runs it).

The roles run as processes (`crm-bridge run processor|sink|source`) against the emulator at realistic latency.
A person's edit every 200 ms must reach Salesforce about as fast while a nightly sync runs as when nothing
else does: it fails when real-time events wait behind bulk work (in the processor's domain partitions, its
coalescing window, the sink's queue or the governor's slots) or when the edits stall the batch.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from bridge.demo.nightly import isolated_env, prepare_stack, publish_scenario, wait_accounted
from bridge.demo.observe import Outcomes
from bridge.demo.priority import Percentiles, RealtimeStream, realtime_events
from bridge.demo.scenario import nightly_scenario
from bridge.demo.stack import LocalStack, StackOptions
from bridge.demo.verify import verify_org
from bridge.emulator import LatencyModel
from bridge.kafka.local import LocalKafka
from bridge.publisher import Publisher

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(420)]

IDLE_S = 5.0
ACCOUNTS, OPPORTUNITIES = 3_000, 900


class _Quiet:
    def stage(self, name: str, total: int) -> None: ...

    def advance(self, name: str, done: int) -> None: ...


async def test_realtime_edits_go_first_while_the_nightly_sync_runs(
    local_kafka_node: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", local_kafka_node.bootstrap_servers)
    run_id = f"prioci{int(time.time())}"
    options = StackOptions(workdir=tmp_path, latency=LatencyModel(speed=1.0), env=isolated_env(run_id))
    scenario = nightly_scenario(accounts=ACCOUNTS, opportunities=OPPORTUNITIES, run_id=f"{run_id}-night")
    async with LocalStack(options) as stack:
        settings, registry, cdc = await prepare_stack(stack, isolate=True)
        async with (
            Outcomes(stack.bootstrap_servers, settings.topics, run_id, cdc) as outcomes,
            Publisher(settings, schemas=registry) as publisher,
            httpx.AsyncClient() as http,
        ):
            await stack.start_roles()
            warm = RealtimeStream(publisher, realtime_events(f"{run_id}-rt-warm", 10))
            await warm.run(2.0)
            assert await warm.wait_completed(outcomes, 120.0), stack.log_tail("sink")

            idle = RealtimeStream(publisher, realtime_events(f"{run_id}-rt-idle", 100))
            await idle.run(IDLE_S)
            assert await idle.wait_completed(outcomes, 30.0)

            loaded = RealtimeStream(publisher, realtime_events(f"{run_id}-rt-loaded", 2_000))
            done = asyncio.Event()
            streaming = asyncio.create_task(loaded.run(300.0, stop=done))
            started = time.monotonic()
            try:
                await publish_scenario(settings, registry, scenario, _Quiet())
                await wait_accounted(
                    stack, scenario=scenario, outcomes=outcomes, http=http, progress=_Quiet(), timeout_s=240.0
                )
            finally:
                done.set()
                await streaming
            nightly_s = time.monotonic() - started
            assert await loaded.wait_completed(outcomes, 30.0)
        check = verify_org(scenario, stack.org, f"{run_id}-night")

    idle_p = Percentiles.of(idle.latencies_ms(outcomes))
    loaded_p = Percentiles.of(loaded.latencies_ms(outcomes))
    assert idle_p.p99_ms is not None
    assert loaded_p.p99_ms is not None
    summary = f"idle {idle_p}, loaded {loaded_p}, nightly {nightly_s:.1f} s ({loaded.sent} edits meanwhile)"
    assert loaded.sent >= 10, summary  # the edits really ran during the sync
    # Before real-time had its own domain topics and agent, closed the processor's batch at once and kept a governor
    # slot, an edit waited 0-2 s for the coalescing window when idle (p50 1.2 s) and behind the backlog when loaded
    # (p50 0.7-1.6 s at this size). The tail under load is the CPU this 2-core machine shares between all roles,
    # the broker, the emulator and this test (benchmarks/README.md): bounded loosely.
    assert idle_p.p99_ms < 1_000.0, summary
    assert idle_p.p50_ms is not None
    assert loaded_p.p50_ms is not None
    assert loaded_p.p50_ms <= max(3.0 * idle_p.p50_ms, idle_p.p50_ms + 300.0), summary
    assert loaded_p.p99_ms <= 5_000.0, summary
    assert check.ok, (check.duplicates[:3], check.missing[:3], check.wrong[:3])
