"""A token bucket with an injected clock: the level refills at a rate that the caller may change at any time.

bucket = TokenBucket(capacity=50.0, rate_per_s=0.5, level=50.0, now_s=0.0)
bucket.take(10.0, now_s=1.0)         # True: 40.5 left
bucket.seconds_until(45.0, now_s=1.0)  # 9.0 at 0.5 calls/s
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """Calls available for batch work; `take` spends them, time refills them at `rate_per_s` up to `capacity`."""

    capacity: float
    rate_per_s: float
    level: float
    now_s: float

    def refill(self, now_s: float) -> None:
        """Bring the level up to `now_s` (time never runs backwards here: an older `now_s` is ignored)."""
        elapsed_s = now_s - self.now_s
        if elapsed_s > 0:
            self.level = min(self.capacity, self.level + elapsed_s * self.rate_per_s)
            self.now_s = now_s

    def reshape(self, *, capacity: float, rate_per_s: float, now_s: float) -> None:
        """Change capacity and rate from `now_s` on; the level is clipped to the new capacity."""
        self.refill(now_s)
        self.capacity = capacity
        self.rate_per_s = max(0.0, rate_per_s)
        self.level = min(self.level, capacity)

    def take(self, calls: float, now_s: float) -> bool:
        """Spend `calls` if the bucket holds them; a request larger than the capacity waits for a full bucket
        and leaves the level negative (a debt the rate repays), so it is slowed, never refused forever."""
        self.refill(now_s)
        if self.level + 1e-9 < min(calls, self.capacity):
            return False
        self.level -= calls
        return True

    def seconds_until(self, calls: float, now_s: float) -> float:
        """How long until `calls` are available (`inf` when the rate is zero or calls exceed the capacity)."""
        self.refill(now_s)
        missing = min(calls, self.capacity) - self.level
        if missing <= 0:
            return 0.0
        if self.rate_per_s <= 0:
            return math.inf
        return missing / self.rate_per_s
