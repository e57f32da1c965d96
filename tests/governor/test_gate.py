"""The async gate: waits without spinning, wakes on release and reports, serves real-time first, exports metrics."""

import asyncio

from prometheus_client import CollectorRegistry

from bridge.config import GovernorSettings
from bridge.governor import Governor, GovernorGate
from bridge.metrics import Metrics
from bridge.salesforce import LimitInfo
from bridge.types import Lane


def _gate(metrics: Metrics | None = None, **overrides: object) -> GovernorGate:
    settings = GovernorSettings.model_validate({"daily_limit_calls": 1_000, "max_concurrency": 1} | overrides)
    return GovernorGate(Governor(settings, now_s=0.0), clock=asyncio.get_running_loop().time, metrics=metrics)


async def test_a_released_slot_wakes_the_waiter_and_realtime_goes_first() -> None:
    gate = _gate()
    order: list[Lane] = []
    held = await gate.wait_for_permit(Lane.BULK)

    async def writer(lane: Lane) -> None:
        async with gate.acquire(lane):
            order.append(lane)
            await asyncio.sleep(0.01)

    bulk = asyncio.create_task(writer(Lane.BULK))
    await asyncio.sleep(0.01)
    realtime = asyncio.create_task(writer(Lane.REALTIME))
    await asyncio.sleep(0.01)
    gate.release(held)
    await asyncio.wait_for(asyncio.gather(bulk, realtime), timeout=5)
    assert order == [Lane.REALTIME, Lane.BULK]


async def test_reports_recalibrate_and_metrics_follow() -> None:
    metrics = Metrics.create(CollectorRegistry())
    gate = _gate(metrics, max_concurrency=10)
    gate.observe(LimitInfo(used=900, limit=5_000))
    async with gate.acquire(Lane.REALTIME, calls=2):
        assert metrics.registry.get_sample_value("bridge_salesforce_inflight_requests") == 1
    assert metrics.registry.get_sample_value("bridge_api_daily_limit_calls") == 1_000
    assert metrics.registry.get_sample_value("bridge_api_budget_used_calls") == 902
    remaining = metrics.registry.get_sample_value("bridge_api_budget_remaining_calls", {"lane": "realtime"})
    assert remaining == 1_000 - 50 - 902
    assert "used=902/1000" in repr(gate)


async def test_a_spent_budget_waits_until_a_report_frees_it() -> None:
    gate = _gate(max_concurrency=10)
    gate.observe(LimitInfo(used=1_000, limit=1_000))
    waiter = asyncio.create_task(gate.wait_for_permit(Lane.REALTIME))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    gate.observe(LimitInfo(used=10, limit=1_000))
    permit = await asyncio.wait_for(waiter, timeout=5)
    gate.release(permit)


async def test_a_cancelled_realtime_waiter_does_not_hold_bulk_back() -> None:
    gate = _gate()
    held = await gate.wait_for_permit(Lane.BULK)
    waiter = asyncio.create_task(gate.wait_for_permit(Lane.REALTIME))
    await asyncio.sleep(0.01)
    waiter.cancel()
    gate.release(held)
    permit = await asyncio.wait_for(gate.wait_for_permit(Lane.BULK), timeout=5)
    gate.release(permit)


async def test_cancel_waiters_abandons_only_those_still_waiting() -> None:
    gate = _gate()
    held = await gate.wait_for_permit(Lane.BULK)
    waiter = asyncio.create_task(gate.wait_for_permit(Lane.BULK))
    await asyncio.sleep(0.01)
    assert gate.cancel_waiters() == 1
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
    assert gate.state().inflight_requests == 1  # the granted permit is untouched
    gate.release(held)
