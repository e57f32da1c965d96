"""Row locks of the emulated org: which transaction holds each row, and waiting for a row as Salesforce does.

A save that meets a row held by a concurrent transaction waits for it, up to 10 seconds, and only then fails
with UNABLE_TO_LOCK_ROW ("a given transaction can only wait a maximum of 10 seconds for a lock to be released,
otherwise it will time out", Salesforce knowledge article 000229525). The wait is in emulated time: the org's
clock (which tests move with `advance`) and wall time divided by the latency model's speed, whichever went
further. So at speed 0 a waiter still waits for the holder to commit, and times out only when the clock is
moved past 10 s; at speed 0.1 a 10 s timeout takes 1 s of wall time.

    timer = LockTimer(org.clock, speed=org.latency.speed)
    free = await org.locks.wait(tx_key, lambda: rows_the_save_needs, timer)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

LOCK_WAIT_S = 10.0
_POLL_S = 0.05  # how often a waiter looks at the clock when no lock was released meanwhile


class LockTimer:
    """How long a waiter has waited in emulated time; expired after `LOCK_WAIT_S`."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        speed: float,
        limit_s: float = LOCK_WAIT_S,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._speed = speed
        self.limit_s = limit_s
        self._clock_start = clock()
        self._wall_start = wall()

    def waited_s(self) -> float:
        """Emulated seconds since the timer started."""
        moved = self._clock() - self._clock_start
        if self._speed > 0:
            return max(moved, (self._wall() - self._wall_start) / self._speed)
        return moved

    def expired(self) -> bool:
        """Whether the waiter has waited as long as Salesforce would."""
        return self.waited_s() >= self.limit_s

    def poll_s(self) -> float:
        """Wall seconds to sleep before the next look, never past the deadline."""
        if self._speed <= 0:
            return _POLL_S
        left_wall_s = (self.limit_s - self.waited_s()) * self._speed
        return max(0.001, min(_POLL_S, left_wall_s))


@dataclass(slots=True)
class LockStats:
    """What waiting cost: saves that waited, how many of them timed out, and the longest wait (emulated s)."""

    waits: int = 0
    timeouts: int = 0
    longest_wait_s: float = 0.0


class RowLocks:
    """Which transaction holds each locked row; waiters wake when rows are released."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}
        self._waiters: set[asyncio.Event] = set()
        self.stats = LockStats()

    def __repr__(self) -> str:
        return f"RowLocks(held={len(self._holders)}, waiting={len(self._waiters)}, stats={self.stats})"

    def holder(self, record_id: str) -> str | None:
        """The transaction key holding `record_id`, if any."""
        return self._holders.get(record_id)

    def held_by_others(self, key: str | None, record_ids: Iterable[str]) -> list[str]:
        """The rows of `record_ids` another transaction than `key` holds, sorted."""
        if not self._holders:
            return []
        return sorted(i for i in set(record_ids) if self._holders.get(i) not in (None, key))

    def acquire(self, key: str, record_ids: set[str]) -> None:
        """Lock rows for `key` (callers check `held_by_others` first)."""
        for record_id in record_ids:
            self._holders[record_id] = key

    def release(self, key: str, record_ids: set[str]) -> None:
        """Unlock the rows `key` holds and wake every waiter."""
        for record_id in record_ids:
            if self._holders.get(record_id) == key:
                del self._holders[record_id]
        for waiter in self._waiters:
            waiter.set()

    async def wait(self, key: str | None, wanted: Callable[[], Iterable[str]], timer: LockTimer) -> bool:
        """Wait until no row `wanted()` names is held by another transaction; False when `timer` expired first.

        `wanted` is asked again after every release: what a save locks can change while it waits.
        """
        if not self._holders or not self.held_by_others(key, wanted()):
            return True  # (no row locked at all is the usual case: no need to work out what the save locks)
        self.stats.waits += 1
        event = asyncio.Event()
        self._waiters.add(event)
        try:
            while self.held_by_others(key, wanted()):
                if timer.expired():
                    self.stats.timeouts += 1
                    return False
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=timer.poll_s())
            return True
        finally:
            self._waiters.discard(event)
            self.stats.longest_wait_s = max(self.stats.longest_wait_s, timer.waited_s())
