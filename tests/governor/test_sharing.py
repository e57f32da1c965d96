"""Properties of the governor against a simulated org: never over the limit, realtime served, bulk spread,
workers sharing one org stay under it together, and survivors take over a dead worker's share."""

from collections import deque
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import GovernorSettings
from bridge.governor import Governor, Granted, Permit
from bridge.types import Lane
from tests.governor.simorg import SimOrg

_LIMIT = 1_000
_SETTINGS = GovernorSettings(
    daily_limit_calls=None, safety_margin_calls=40, max_concurrency=4, bucket_capacity_calls=20, starvation_guard_s=5
)


@dataclass
class Worker:
    """One sink worker: its governor and the requests it has in flight."""

    governor: Governor
    inflight: deque[Permit] = field(default_factory=deque)

    def request(self, lane: Lane, calls: int, now_s: float) -> bool:
        decision = self.governor.try_acquire(lane, calls, now_s)
        if isinstance(decision, Granted):
            self.inflight.append(decision.permit)
            return True
        return False

    def complete(self, org: SimOrg, now_s: float) -> None:
        """The oldest request reaches the org (which counts it) and its response reports the usage."""
        permit = self.inflight.popleft()
        report = org.call(now_s, permit.calls)  # raises LimitExceeded: the property under test
        self.governor.observe(report, now_s)
        self.governor.release(permit, now_s)


def _workers(n: int, org: SimOrg) -> list[Worker]:
    workers = [Worker(Governor(_SETTINGS, now_s=0.0, share=1.0 / n)) for _ in range(n)]
    for worker in workers:  # each starts with one probe, as it would in life
        assert worker.request(Lane.REALTIME, 1, 0.0)
        worker.complete(org, 0.0)
    return workers


_ops = st.lists(
    st.tuples(
        st.sampled_from(["request", "complete", "other", "tick"]),
        st.integers(0, 2),
        st.sampled_from(list(Lane)),
        st.integers(1, 5),
    ),
    max_size=400,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, start_used=st.integers(0, _LIMIT))
def test_never_over_the_limit_for_any_interleaving(ops: list[tuple[str, int, Lane, int]], start_used: int) -> None:
    org = SimOrg(_LIMIT)
    org.calls.extend([-1.0] * min(start_used, _LIMIT - 3))
    workers = _workers(3, org)
    others_spent = 0
    now_s = 0.0
    for op, index, lane, calls in ops:
        worker = workers[index]
        if op == "request":
            worker.request(lane, calls, now_s)
        elif op == "complete" and worker.inflight:
            worker.complete(org, now_s)
        elif op == "other" and org.used(now_s) < _LIMIT - 40 and others_spent < 20:
            org.call(now_s, 1)  # another integration; it stays out of our margin
            others_spent += 1
        elif op == "tick":
            now_s += calls * 10.0
    for worker in workers:
        while worker.inflight:
            worker.complete(org, now_s)
    assert org.peak <= _LIMIT


def test_realtime_is_served_while_bulk_saturates() -> None:
    org = SimOrg(100_000)
    (worker,) = _workers(1, org)
    served = 0
    now_s = 0.0
    for step in range(2_000):
        now_s = step * 0.1
        while worker.request(Lane.BULK, 1, now_s):
            pass
        if step % 10 == 0 and worker.request(Lane.REALTIME, 1, now_s):
            served += 1
        if worker.inflight:
            worker.complete(org, now_s)
    assert served >= 190  # 200 asked; a real-time request at most waits for one slot


def test_bulk_spend_is_spread_over_the_day() -> None:
    org = SimOrg(10_000)
    (worker,) = _workers(1, org)
    spent_by_hour = []
    now_s = 0.0
    for hour in range(1, 25):
        while now_s < hour * 3_600.0:
            decision = worker.governor.try_acquire(Lane.BULK, 1, now_s)
            if isinstance(decision, Granted):
                worker.inflight.append(decision.permit)
                worker.complete(org, now_s)
            else:
                now_s += min(max(decision.retry_after_s, 1.0), 600.0)
        spent_by_hour.append(org.used(now_s))
    bulk_ceiling = 10_000 * 0.8 - 40
    assert spent_by_hour[-1] <= bulk_ceiling + 1
    assert spent_by_hour[-1] >= 0.95 * bulk_ceiling
    for hour, spent in enumerate(spent_by_hour, start=1):
        linear = bulk_ceiling * hour / 24
        assert abs(spent - linear) <= 0.05 * bulk_ceiling + 20, (hour, spent, linear)


def _drain_greedily(workers: list[Worker], org: SimOrg, now_s: float, rounds: int) -> None:
    for _ in range(rounds):
        for worker in workers:
            while worker.request(Lane.REALTIME, 3, now_s):
                pass
        for worker in workers:
            if worker.inflight:
                worker.complete(org, now_s)


def test_workers_sharing_one_org_stay_under_it_and_survivors_take_over() -> None:
    org = SimOrg(_LIMIT)
    workers = _workers(3, org)
    _drain_greedily(workers, org, 0.0, rounds=40)
    spent_with_three = org.used(0.0)
    assert spent_with_three < _LIMIT
    # One worker dies with requests in flight: they never complete; its partitions move to the survivors.
    dead, survivors = workers[0], workers[1:]
    assert dead is not None
    for worker in survivors:
        worker.governor.set_share(0.5, 1.0)
    _drain_greedily(survivors, org, 1.0, rounds=400)
    assert org.peak <= _LIMIT
    assert org.used(1.0) >= _LIMIT - _SETTINGS.safety_margin_calls - 10  # the budget is used, not stranded


def test_workers_granting_before_any_report_together_stay_within_the_headroom() -> None:
    roomy = _SETTINGS.model_copy(update={"max_concurrency": 1_000, "daily_limit_calls": _LIMIT})
    governors = [Governor(roomy, now_s=0.0, share=0.25) for _ in range(4)]
    granted = 0
    for governor in governors:
        while isinstance(governor.try_acquire(Lane.REALTIME, 1, 0.0), Granted):
            granted += 1
    assert granted == _LIMIT - _SETTINGS.safety_margin_calls
