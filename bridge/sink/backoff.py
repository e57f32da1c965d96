"""Exponential backoff with full jitter: a retry waits a random time in [0, min(max, base * 2**attempt)]."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays for retries; `rng` is injected so tests are deterministic.

    >>> Backoff(base_s=0.5, max_s=60.0, rng=random.Random(1)).delay_s(3) <= 4.0
    True
    """

    base_s: float
    max_s: float
    rng: random.Random = field(default_factory=random.Random)

    def ceiling_s(self, attempt: int) -> float:
        """The upper bound of the delay before retry number `attempt` (1 for the first retry)."""
        return min(self.max_s, self.base_s * 2.0 ** max(0, attempt - 1))

    def delay_s(self, attempt: int, at_least_s: float = 0.0) -> float:
        """A full-jitter delay, never shorter than what the server asked for (`Retry-After`)."""
        return max(at_least_s, self.rng.uniform(0.0, self.ceiling_s(attempt)))
