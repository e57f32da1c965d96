"""The governor's pure core: may this worker spend `calls` API calls on `lane` now? Answers are values.

    governor = Governor(settings.governor, now_s=clock())
    decision = governor.try_acquire(Lane.BULK, 1, now_s=clock())
    match decision:
        case Granted(permit): ...; governor.release(permit, now_s=clock())
        case Wait(retry_after_s, reason): ...          # nothing was spent; ask again later

**Budget.** Salesforce counts API calls org-wide over a rolling 24 hours and reports the count on every
response (`Sforce-Limit-Info: api-usage=used/limit`). Other integrations spend the same allocation, so the
governor never trusts its own count alone: each report resets the base to the org-wide `used`, and the calls
this worker granted that the report may not include (those still in flight, and those granted since) are added
on top. The ceilings are `limit - safety_margin_calls` for real-time work and
`limit * (1 - realtime_reserve) - safety_margin_calls` for bulk work, so bulk work can never eat the reserve.

**Sharing across workers, without coordination.** Every worker sees the same org-wide `used`. A worker whose
share of the write-topic partitions is `share` (its assigned partitions / all partitions, updated on every
rebalance with `set_share`) spends at most `share * (ceiling - used)` between two reports, its token bucket
refills at `share` of the bulk rate and holds `share` of the capacity, and its concurrency cap is
`floor(max_concurrency * share)` (at least 1). The shares sum to 1, so the workers together stay under the
ceiling; when a worker dies its partitions move to the survivors, their shares grow, and so do their budgets.
The overshoot between two reports is bounded by the calls in flight when the report was taken, across all
workers: at most `max_concurrency` requests of a few calls each. Keep `safety_margin_calls` above that
(the default, 50, covers 10 requests of 5 calls); the margin is what keeps `REQUEST_LIMIT_EXCEEDED` away.

**Spreading.** Bulk work takes tokens from a bucket whose rate is the remaining bulk budget divided by the time
left in the current spreading horizon (24 hours by default, never less than a tenth of it), so a backlog is
spread over the day instead of burnt in the first hour. Real-time work takes no tokens.

**Priority.** One of the worker's concurrency slots is the real-time lane's (when it has more than one): bulk
requests hold at most `concurrency_cap - 1`, so a person's edit goes at once instead of waiting for a bulk batch
in flight to end. A real-time request waiting for a slot keeps bulk requests out, unless a bulk request has
been kept out for `starvation_guard_s`, in which case it gets its turn.

**Unknown limit.** Before the first report (and with no `daily_limit_calls` configured) one request at a time
goes out, to learn the limit. When the budget is spent and nothing is in flight, no report arrives to say that
the window freed; after `recheck_s` one probe request may use the safety margin to learn the current count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.config import GovernorSettings
from bridge.governor.bucket import TokenBucket
from bridge.types import Lane

DAY_S = 86_400.0
_SLOT_RETRY_S = 0.05  # a slot frees when a request ends; the async gate wakes waiters then, this is a fallback


class WaitReason(StrEnum):
    """Why a request must wait."""

    NO_SHARE = "no_share"  # this worker owns no write partitions
    PROBE = "probe"  # the limit is not known yet and a probe is in flight
    CONCURRENCY = "concurrency"
    REALTIME_FIRST = "realtime_first"
    BUDGET = "budget"
    BUCKET = "bucket"


@dataclass(frozen=True, slots=True)
class LimitReport:
    """The org-wide API usage in the rolling window, as one response reported it."""

    used: int
    limit: int


@dataclass(frozen=True, slots=True)
class Permit:
    """A granted request: give it back with `release` when the request has ended, however it ended."""

    id: int
    lane: Lane
    calls: int


@dataclass(frozen=True, slots=True)
class Granted:
    """The request may go now."""

    permit: Permit


@dataclass(frozen=True, slots=True)
class Wait:
    """The request must not go now; nothing was spent. Ask again after `retry_after_s` (or on a wake-up)."""

    retry_after_s: float
    reason: WaitReason


Decision = Granted | Wait


@dataclass(frozen=True, slots=True)
class GovernorState:
    """What the governor believes at one instant (for metrics and logs)."""

    daily_limit_calls: int | None
    used_calls: int
    remaining_calls: dict[Lane, int]
    bucket_level_calls: float
    inflight_requests: int
    share: float


@dataclass(slots=True)
class _Usage:
    """The last report plus this worker's calls it may not include."""

    reported_limit: int | None = None
    base_used: int = 0
    unreported_calls: int = 0
    reported_at_s: float | None = None


@dataclass(slots=True)
class _Waiting:
    realtime_since_s: float | None = None
    bulk_kept_out_since_s: float | None = None


@dataclass(slots=True)
class Governor:
    """Budget, token bucket, priority and concurrency for one worker. Pure: time comes in as `now_s`."""

    settings: GovernorSettings
    now_s: float
    share: float = 1.0
    horizon_s: float = DAY_S
    recheck_s: float = 60.0
    _usage: _Usage = field(default_factory=_Usage)
    _waiting: _Waiting = field(default_factory=_Waiting)
    _inflight: dict[int, Permit] = field(default_factory=dict)
    _next_id: int = 0
    _bucket: TokenBucket = field(init=False)
    _horizon_start_s: float = field(init=False)

    def __post_init__(self) -> None:
        capacity = self._bucket_capacity()
        self._bucket = TokenBucket(capacity, 0.0, capacity, self.now_s)
        self._horizon_start_s = self.now_s
        self._reshape(self.now_s)

    # -- inputs ---------------------------------------------------------------------------------------------

    def observe(self, report: LimitReport, now_s: float) -> None:
        """Recalibrate from an org-wide usage report; calls still in flight may not be in it, so they stay counted."""
        self._usage.reported_limit = report.limit
        self._usage.base_used = report.used
        self._usage.unreported_calls = sum(p.calls for p in self._inflight.values())
        self._usage.reported_at_s = now_s
        self._reshape(now_s)

    def set_share(self, share: float, now_s: float) -> None:
        """This worker's fraction of the write partitions (0 to 1), after a rebalance."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within [0, 1], got {share}")
        self.share = share
        self._reshape(now_s)

    def release(self, permit: Permit, now_s: float) -> None:
        """The request of `permit` has ended (its calls stay counted until a report covers them)."""
        self._inflight.pop(permit.id, None)
        self._reshape(now_s)

    # -- the decision ---------------------------------------------------------------------------------------

    def try_acquire(self, lane: Lane, calls: int, now_s: float) -> Decision:
        """Grant `calls` API calls on `lane`, or say how long to wait and why."""
        if calls < 1:
            raise ValueError(f"calls must be at least 1, got {calls}")
        self._reshape(now_s)
        wait = self._refusal(lane, calls, now_s)
        if wait is not None:
            self._note_wait(lane, wait, now_s)
            return wait
        return self._grant(lane, calls)

    def _refusal(self, lane: Lane, calls: int, now_s: float) -> Wait | None:
        if self.share <= 0.0:
            return Wait(math.inf, WaitReason.NO_SHARE)
        if self.daily_limit_calls is None:
            return None if not self._inflight else Wait(_SLOT_RETRY_S, WaitReason.PROBE)
        if len(self._inflight) >= self.concurrency_cap:
            return Wait(_SLOT_RETRY_S, WaitReason.CONCURRENCY)
        if lane is Lane.BULK and self._bulk_inflight() >= self.bulk_concurrency_cap:
            return Wait(_SLOT_RETRY_S, WaitReason.CONCURRENCY)
        if lane is Lane.BULK and self._realtime_goes_first(now_s):
            return Wait(_SLOT_RETRY_S, WaitReason.REALTIME_FIRST)
        return self._spending_refusal(lane, calls, now_s)

    def _spending_refusal(self, lane: Lane, calls: int, now_s: float) -> Wait | None:
        if self.allowance_calls(lane) < calls and not self._may_probe(calls, now_s):
            return Wait(self.recheck_s, WaitReason.BUDGET)
        if lane is Lane.BULK and not self._bucket.take(calls, now_s):
            return Wait(self._bucket.seconds_until(calls, now_s), WaitReason.BUCKET)
        return None

    def _realtime_goes_first(self, now_s: float) -> bool:
        if self._waiting.realtime_since_s is None:
            return False
        kept_out = self._waiting.bulk_kept_out_since_s
        return kept_out is None or now_s - kept_out < self.settings.starvation_guard_s

    def _may_probe(self, calls: int, now_s: float) -> bool:
        """With nothing in flight and an old report, one request may use the margin to learn the count."""
        limit = self.daily_limit_calls
        reported_at = self._usage.reported_at_s
        if limit is None or self._inflight or reported_at is None or now_s - reported_at < self.recheck_s:
            return False
        return self.used_calls + calls <= limit - 1

    def _note_wait(self, lane: Lane, wait: Wait, now_s: float) -> None:
        waiting = self._waiting
        if lane is Lane.REALTIME and wait.reason is not WaitReason.BUDGET and waiting.realtime_since_s is None:
            waiting.realtime_since_s = now_s
        kept_out = wait.reason is WaitReason.REALTIME_FIRST
        if lane is Lane.BULK and kept_out and waiting.bulk_kept_out_since_s is None:
            waiting.bulk_kept_out_since_s = now_s

    def _grant(self, lane: Lane, calls: int) -> Granted:
        permit = Permit(self._next_id, lane, calls)
        self._next_id += 1
        self._inflight[permit.id] = permit
        self._usage.unreported_calls += calls
        if lane is Lane.REALTIME:
            self._waiting.realtime_since_s = None
        else:
            self._waiting.bulk_kept_out_since_s = None
        return Granted(permit)

    def withdraw(self, lane: Lane) -> None:
        """A waiter of `lane` gave up (cancelled): it no longer holds the other lane back."""
        if lane is Lane.REALTIME:
            self._waiting.realtime_since_s = None
        else:
            self._waiting.bulk_kept_out_since_s = None

    # -- arithmetic -----------------------------------------------------------------------------------------

    @property
    def daily_limit_calls(self) -> int | None:
        """The allocation: the org's reported limit, capped by `daily_limit_calls` when that is configured."""
        known = [x for x in (self._usage.reported_limit, self.settings.daily_limit_calls) if x is not None]
        return min(known) if known else None

    @property
    def used_calls(self) -> int:
        """Org-wide usage as last reported, plus this worker's calls that report may not include."""
        return self._usage.base_used + self._usage.unreported_calls

    @property
    def concurrency_cap(self) -> int:
        """This worker's share of the deployment's concurrency cap (at least one request)."""
        return max(1, math.floor(self.settings.max_concurrency * self.share + 1e-9))

    @property
    def bulk_concurrency_cap(self) -> int:
        """Requests the bulk lane may have in flight: all but one slot when there are several, so a real-time
        request never waits for a bulk request to end (a Bulk API job holds its slot for the whole job)."""
        cap = self.concurrency_cap
        return cap - 1 if cap > 1 else cap

    def _bulk_inflight(self) -> int:
        return sum(1 for permit in self._inflight.values() if permit.lane is Lane.BULK)

    def ceiling_calls(self, lane: Lane) -> float:
        """The org-wide usage `lane` may bring the window up to."""
        limit = self.daily_limit_calls
        if limit is None:
            return 0.0
        reserve = self.settings.realtime_reserve if lane is Lane.BULK else 0.0
        return limit * (1.0 - reserve) - self.settings.safety_margin_calls

    def allowance_calls(self, lane: Lane) -> float:
        """Calls this worker may still spend on `lane` before the next report."""
        headroom = max(0.0, self.ceiling_calls(lane) - self._usage.base_used)
        return self.share * headroom - self._usage.unreported_calls

    def _bucket_capacity(self) -> float:
        return max(1.0, self.settings.bucket_capacity_calls * self.share)

    def _reshape(self, now_s: float) -> None:
        elapsed_s = (now_s - self._horizon_start_s) % self.horizon_s
        left_s = max(self.horizon_s - elapsed_s, self.horizon_s / 10.0)
        rate = max(0.0, self.allowance_calls(Lane.BULK)) / left_s
        self._bucket.reshape(capacity=self._bucket_capacity(), rate_per_s=rate, now_s=now_s)
        self.now_s = max(self.now_s, now_s)

    def state(self, now_s: float) -> GovernorState:
        """A snapshot for metrics."""
        self._reshape(now_s)
        return GovernorState(
            daily_limit_calls=self.daily_limit_calls,
            used_calls=self.used_calls,
            remaining_calls={lane: max(0, math.floor(self.allowance_calls(lane))) for lane in Lane},
            bucket_level_calls=self._bucket.level,
            inflight_requests=len(self._inflight),
            share=self.share,
        )
