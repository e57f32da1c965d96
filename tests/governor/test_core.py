"""The governor's core: budget ceilings, reports, probes, concurrency, priority and the starvation guard."""

from bridge.config import GovernorSettings
from bridge.governor import Governor, Granted, LimitReport, Permit, Wait, WaitReason
from bridge.types import Lane


def _governor(**overrides: object) -> Governor:
    settings = GovernorSettings.model_validate(
        {"daily_limit_calls": 1_000, "safety_margin_calls": 10, "bucket_capacity_calls": 1_000} | overrides
    )
    return Governor(settings, now_s=0.0)


def _grant(governor: Governor, lane: Lane, calls: int = 1, now_s: float = 0.0) -> Permit:
    decision = governor.try_acquire(lane, calls, now_s)
    assert isinstance(decision, Granted), decision
    return decision.permit


def _spend(governor: Governor, lane: Lane, now_s: float = 0.0) -> int:
    """Grant and release one call at a time until refused; the number granted."""
    granted = 0
    while isinstance(decision := governor.try_acquire(lane, 1, now_s), Granted):
        governor.release(decision.permit, now_s)
        granted += 1
    return granted


def test_bulk_stops_at_the_reserve_and_realtime_goes_on_to_the_margin() -> None:
    governor = _governor(max_concurrency=10)
    governor.observe(LimitReport(used=0, limit=5_000), now_s=0.0)
    assert governor.daily_limit_calls == 1_000  # the configured cap wins over the larger org limit
    assert _spend(governor, Lane.BULK) == 1_000 * 0.8 - 10
    decision = governor.try_acquire(Lane.BULK, 1, 0.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.BUDGET
    assert _spend(governor, Lane.REALTIME) == 1_000 * 0.2
    assert governor.used_calls == 990


def test_reports_include_other_integrations() -> None:
    governor = _governor()
    governor.observe(LimitReport(used=900, limit=1_000), now_s=0.0)
    assert _spend(governor, Lane.BULK) == 0
    assert _spend(governor, Lane.REALTIME) == 90
    governor.observe(LimitReport(used=100, limit=1_000), now_s=1.0)  # the window rolled on
    assert _spend(governor, Lane.REALTIME, now_s=1.0) == 890


def test_in_flight_calls_stay_counted_across_a_report() -> None:
    governor = _governor()
    governor.observe(LimitReport(used=980, limit=1_000), now_s=0.0)
    _grant(governor, Lane.REALTIME, calls=5)
    governor.observe(LimitReport(used=980, limit=1_000), now_s=0.0)  # may not include the 5 in flight
    assert governor.used_calls == 985
    assert _spend(governor, Lane.REALTIME) == 5


def test_unknown_limit_sends_one_probe_at_a_time() -> None:
    governor = Governor(GovernorSettings(), now_s=0.0)
    permit = _grant(governor, Lane.BULK)
    decision = governor.try_acquire(Lane.REALTIME, 1, 0.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.PROBE
    governor.release(permit, 0.1)
    governor.observe(LimitReport(used=1, limit=100_000), now_s=0.1)
    assert governor.daily_limit_calls == 100_000


def test_a_spent_budget_is_probed_again_after_recheck_s() -> None:
    governor = _governor()
    governor.observe(LimitReport(used=990, limit=1_000), now_s=0.0)
    assert isinstance(governor.try_acquire(Lane.REALTIME, 1, 30.0), Wait)
    probe = _grant(governor, Lane.REALTIME, now_s=61.0)
    assert isinstance(governor.try_acquire(Lane.REALTIME, 1, 61.0), Wait)  # one probe at a time
    governor.release(probe, 61.5)
    governor.observe(LimitReport(used=400, limit=1_000), now_s=61.5)
    assert _spend(governor, Lane.BULK, now_s=61.5) == 390


def test_concurrency_cap_and_share() -> None:
    governor = _governor(max_concurrency=10)
    permits = [_grant(governor, Lane.REALTIME) for _ in range(10)]
    decision = governor.try_acquire(Lane.REALTIME, 1, 0.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.CONCURRENCY
    for permit in permits:
        governor.release(permit, 0.0)
    governor.set_share(1 / 3, 0.0)
    assert governor.concurrency_cap == 3
    governor.set_share(0.0, 0.0)
    decision = governor.try_acquire(Lane.REALTIME, 1, 0.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.NO_SHARE


def test_share_divides_the_remaining_budget() -> None:
    governor = _governor()
    governor.observe(LimitReport(used=190, limit=1_000), now_s=0.0)
    governor.set_share(0.25, 0.0)
    assert _spend(governor, Lane.REALTIME) == (1_000 - 10 - 190) // 4


def test_waiting_realtime_keeps_bulk_out_until_the_starvation_guard() -> None:
    governor = _governor(max_concurrency=1, starvation_guard_s=30.0)
    held = _grant(governor, Lane.BULK)
    assert isinstance(governor.try_acquire(Lane.REALTIME, 1, 1.0), Wait)  # realtime now waits for the slot
    governor.release(held, 2.0)
    decision = governor.try_acquire(Lane.BULK, 1, 2.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.REALTIME_FIRST
    realtime = _grant(governor, Lane.REALTIME, now_s=2.0)
    governor.release(realtime, 3.0)
    _grant(governor, Lane.BULK, now_s=3.0)  # nobody real-time is waiting any more


def test_bulk_gets_a_turn_after_the_starvation_guard() -> None:
    governor = _governor(max_concurrency=1, starvation_guard_s=30.0)
    held = _grant(governor, Lane.REALTIME)
    assert isinstance(governor.try_acquire(Lane.REALTIME, 1, 0.0), Wait)  # a second realtime waits
    governor.release(held, 1.0)
    assert isinstance(governor.try_acquire(Lane.BULK, 1, 1.0), Wait)
    # Realtime keeps the slot busy and another realtime request is always waiting.
    now_s = 1.0
    while now_s < 31.0:
        permit = _grant(governor, Lane.REALTIME, now_s=now_s)
        assert isinstance(governor.try_acquire(Lane.REALTIME, 1, now_s), Wait)
        governor.release(permit, now_s + 1.0)
        now_s += 1.0
        if now_s < 31.0:
            assert isinstance(governor.try_acquire(Lane.BULK, 1, now_s), Wait)
    _grant(governor, Lane.BULK, now_s=31.0)


def test_withdrawn_realtime_waiter_releases_bulk() -> None:
    governor = _governor(max_concurrency=1)
    held = _grant(governor, Lane.BULK)
    assert isinstance(governor.try_acquire(Lane.REALTIME, 1, 0.0), Wait)
    governor.withdraw(Lane.REALTIME)
    governor.release(held, 0.0)
    _grant(governor, Lane.BULK)


def test_state_reports_remaining_per_lane() -> None:
    governor = _governor()
    governor.observe(LimitReport(used=500, limit=1_000), now_s=0.0)
    state = governor.state(0.0)
    assert state.remaining_calls == {Lane.REALTIME: 490, Lane.BULK: 290}
    assert state.daily_limit_calls == 1_000
    assert state.inflight_requests == 0


def test_bulk_never_holds_the_last_slot_so_realtime_goes_at_once() -> None:
    # What benchmarks/priority.py found: ten bulk batches in flight (a Bulk API job holds its slot for the whole
    # job) made a person's edit wait for one of them to end.
    governor = _governor(max_concurrency=10)
    bulk = [_grant(governor, Lane.BULK) for _ in range(9)]
    decision = governor.try_acquire(Lane.BULK, 1, 0.0)
    assert isinstance(decision, Wait)
    assert decision.reason is WaitReason.CONCURRENCY
    _grant(governor, Lane.REALTIME)  # the real-time lane's slot
    governor.release(bulk[0], 0.1)
    _grant(governor, Lane.BULK, now_s=0.1)


def test_a_single_slot_is_shared_by_both_lanes() -> None:
    governor = _governor(max_concurrency=10)
    governor.set_share(0.1, 0.0)  # one slot: nothing to set aside
    assert governor.bulk_concurrency_cap == 1
    held = _grant(governor, Lane.BULK)
    governor.release(held, 0.0)
    _grant(governor, Lane.REALTIME)
