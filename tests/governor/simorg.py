"""A simulated org for governor tests: a rolling-window API counter that locks out at its limit."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bridge.governor import LimitReport


class LimitExceeded(Exception):
    """The simulated org answered REQUEST_LIMIT_EXCEEDED."""


@dataclass
class SimOrg:
    """Counts calls in a rolling window like Salesforce and refuses calls once `limit` is reached."""

    limit: int
    window_s: float = 86_400.0
    calls: deque[float] = field(default_factory=deque)
    peak: int = 0

    def used(self, now_s: float) -> int:
        while self.calls and self.calls[0] <= now_s - self.window_s:
            self.calls.popleft()
        return len(self.calls)

    def call(self, now_s: float, n: int = 1) -> LimitReport:
        if self.used(now_s) + n > self.limit:
            raise LimitExceeded(f"{self.used(now_s)} + {n} > {self.limit}")
        self.calls.extend([now_s] * n)
        self.peak = max(self.peak, len(self.calls))
        return LimitReport(self.used(now_s), self.limit)
