"""The async adapter over the governor's core: `async with gate.acquire(lane, calls):` waits for its turn.

    gate = GovernorGate(Governor(settings.governor, now_s=time.monotonic()), metrics=metrics)
    client = SalesforceClient(..., on_limit_info=gate.observe)  # each LimitInfo recalibrates the budget
    async with gate.acquire(Lane.BULK, calls=1):
        await client.upsert_collection(...)

The core decides; the gate only sleeps: until the core's `retry_after_s`, or until something changed (a request
ended, a report arrived, the share moved), whichever comes first. Real-time waiters are woken before bulk ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from bridge.governor.core import Governor, GovernorState, Granted, LimitReport, Permit, Wait
from bridge.metrics import Metrics
from bridge.types import Lane

Clock = Callable[[], float]


class UsageReport(Protocol):
    """What a response reports (`bridge.salesforce.LimitInfo` is one)."""

    @property
    def used(self) -> int: ...

    @property
    def limit(self) -> int: ...


_MAX_NAP_S = 5.0  # re-ask at least this often, so a lost wake-up costs seconds, not a day


class GovernorGate:
    """One worker's governor behind an asyncio interface (one per process, shared by its tasks)."""

    def __init__(self, governor: Governor, *, clock: Clock = time.monotonic, metrics: Metrics | None = None) -> None:
        self._governor = governor
        self._clock = clock
        self._metrics = metrics
        self._changed = asyncio.Event()
        self._waiters: set[asyncio.Task[object]] = set()

    def __repr__(self) -> str:
        state = self.state()
        return (
            f"GovernorGate(used={state.used_calls}/{state.daily_limit_calls}, share={state.share:.3f}, "
            f"inflight={state.inflight_requests}, bucket={state.bucket_level_calls:.1f})"
        )

    @property
    def governor(self) -> Governor:
        """The pure core (read it; change it only through the gate)."""
        return self._governor

    def state(self) -> GovernorState:
        """The core's current snapshot."""
        return self._governor.state(self._clock())

    def observe(self, info: UsageReport) -> None:
        """Feed an org-wide usage report (`Sforce-Limit-Info`); pass this as the client's `on_limit_info`."""
        self._governor.observe(LimitReport(info.used, info.limit), self._clock())
        self._wake()

    def set_share(self, share: float) -> None:
        """This worker's fraction of the write partitions, after a rebalance."""
        self._governor.set_share(share, self._clock())
        self._wake()

    @asynccontextmanager
    async def acquire(self, lane: Lane, calls: int = 1) -> AsyncIterator[Permit]:
        """Wait until the governor grants `calls` on `lane`; release the permit when the block ends."""
        permit = await self.wait_for_permit(lane, calls)
        try:
            yield permit
        finally:
            self.release(permit)

    async def wait_for_permit(self, lane: Lane, calls: int = 1) -> Permit:
        """Wait for a permit; the caller must `release` it."""
        task = asyncio.current_task()
        if task is not None:
            self._waiters.add(task)
        try:
            while True:
                changed = self._changed
                decision = self._governor.try_acquire(lane, calls, self._clock())
                if isinstance(decision, Granted):
                    self._export()
                    if self._metrics is not None:
                        self._metrics.granted_calls.labels(lane=lane.value).inc(calls)
                    return decision.permit
                await self._nap(decision, changed, lane)
        except asyncio.CancelledError:
            self._governor.withdraw(lane)
            raise
        finally:
            if task is not None:
                self._waiters.discard(task)

    def cancel_waiters(self) -> int:
        """Cancel every task still waiting for a permit (nothing was spent for them); how many were cancelled."""
        waiting = list(self._waiters)
        for task in waiting:
            task.cancel()
        return len(waiting)

    def release(self, permit: Permit) -> None:
        """The request of `permit` ended."""
        self._governor.release(permit, self._clock())
        self._wake()

    async def _nap(self, wait: Wait, changed: asyncio.Event, lane: Lane) -> None:
        nap_s = min(wait.retry_after_s, _MAX_NAP_S)
        try:
            await asyncio.wait_for(changed.wait(), timeout=nap_s)
        except TimeoutError:
            return
        if lane is Lane.BULK:
            await asyncio.sleep(0)  # let woken real-time waiters ask first

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._export()

    def _export(self) -> None:
        if self._metrics is None:
            return
        state = self.state()
        m = self._metrics
        if state.daily_limit_calls is not None:
            m.api_daily_limit.set(state.daily_limit_calls)
        m.api_budget_used.set(state.used_calls)
        for lane, remaining in state.remaining_calls.items():
            m.api_budget_remaining.labels(lane=lane.value).set(remaining)
        m.token_bucket_level.set(state.bucket_level_calls)
        m.inflight_requests.set(state.inflight_requests)
