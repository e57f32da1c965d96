"""Org limits: the rolling 24-hour daily API request allocation, the concurrent long-running request limit,
and the record counts `/limits/recordCount` reports."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping

DAY_S = 24 * 3600.0
LONG_RUNNING_S = 20.0


class DailyApiUsage:
    """API calls in the last 24 hours of the org's clock; a call is refused once `limit` calls are in the window.

    Calls are kept as (time, count) so another integration spending thousands of calls is one entry.
    """

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: deque[tuple[float, int]] = deque()
        self._used = 0

    def used(self) -> int:
        """Calls counted in the rolling window that ends now."""
        horizon = self._clock() - DAY_S
        while self._calls and self._calls[0][0] <= horizon:
            self._used -= self._calls.popleft()[1]
        return self._used

    def remaining(self) -> int:
        """Calls left before the org is locked out."""
        return max(0, self.limit - self.used())

    def try_spend(self, calls: int = 1) -> bool:
        """Count `calls` if the allocation allows them; False (nothing counted) when it is spent."""
        if self.used() + calls > self.limit:
            return False
        self.spend(calls)
        return True

    def spend(self, calls: int) -> None:
        """Count `calls` unconditionally (another integration of the same org spending the allocation)."""
        if calls <= 0:
            return
        self._calls.append((self._clock(), calls))
        self._used += calls

    def header(self) -> str:
        """The `Sforce-Limit-Info` value."""
        return f"api-usage={self.used()}/{self.limit}"


class ConcurrentRequests:
    """In-flight requests; a new one is refused when `limit` of them have run for 20 s or more."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._started: dict[int, float] = {}
        self._next = 0

    def long_running(self) -> int:
        """Requests in flight for at least 20 s."""
        now = self._clock()
        return sum(1 for started in self._started.values() if now - started >= LONG_RUNNING_S)

    def admit(self) -> int | None:
        """A ticket for a new request, or None when the long-running limit is reached."""
        if self.long_running() >= self.limit:
            return None
        self._next += 1
        self._started[self._next] = self._clock()
        return self._next

    def release(self, ticket: int) -> None:
        """The request finished."""
        self._started.pop(ticket, None)

    def in_flight(self) -> int:
        """Requests currently being served."""
        return len(self._started)


def record_counts(counts: Mapping[str, int], requested: str | None) -> dict[str, list[dict[str, object]]]:
    """The `/limits/recordCount` body: `{"sObjects": [{"count": 3, "name": "Account"}, ...]}`.

    `counts` holds every object that has a count (live records, deleted ones not counted); `requested` is the
    `sObjects` parameter, a comma-separated list: names the org does not know are left out, and without it every
    object is listed. Salesforce's count is a cached approximation; the emulator's is exact and current.
    """
    by_lower = {name.lower(): name for name in counts}
    names: Iterable[str] = counts
    if requested is not None:
        wanted = (by_lower.get(part.strip().lower()) for part in requested.split(","))
        names = dict.fromkeys(name for name in wanted if name is not None)
    return {"sObjects": [{"count": counts[name], "name": name} for name in names]}
