"""Per-identity rate limits of the ingest: a token bucket of events for each identity, so one noisy system
cannot starve the others, nor spend the daily Salesforce budget alone.

    limits = RateLimits()
    wait_s = limits.wait_s(identity)              # 0.0: admitted; else answer 429 with Retry-After
    wait_s = limits.take(identity, events=250)    # 0.0: the events are spent; else 429

A batch larger than the identity's burst is admitted once the bucket is full and leaves it in debt, which the
rate repays before the next request is admitted (`TokenBucket`'s rule): slowed down, never refused forever.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bridge.governor.bucket import TokenBucket
from bridge.ingest.grants import Identity


class RateLimits:
    """One `TokenBucket` per identity name, shaped by the identity's `rate_per_s` and `burst_events`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def __repr__(self) -> str:
        return f"RateLimits(identities={len(self._buckets)})"

    def _bucket(self, identity: Identity, now_s: float) -> TokenBucket:
        bucket = self._buckets.get(identity.name)
        if bucket is None:
            capacity = float(identity.burst_events)
            bucket = TokenBucket(capacity=capacity, rate_per_s=identity.rate_per_s, level=capacity, now_s=now_s)
            self._buckets[identity.name] = bucket
        elif bucket.capacity != identity.burst_events or bucket.rate_per_s != identity.rate_per_s:
            bucket.reshape(capacity=float(identity.burst_events), rate_per_s=identity.rate_per_s, now_s=now_s)
        return bucket

    def wait_s(self, identity: Identity) -> float:
        """How long until the identity may send anything (0.0 now): before its body is even read."""
        now_s = self._clock()
        return self._bucket(identity, now_s).seconds_until(1.0, now_s)

    def take(self, identity: Identity, events: int) -> float:
        """Spend `events` and return 0.0, or spend nothing and return how long until they are available."""
        now_s = self._clock()
        bucket = self._bucket(identity, now_s)
        if bucket.take(float(events), now_s):
            return 0.0
        return bucket.seconds_until(float(events), now_s)


def retry_after(wait_s: float) -> str:
    """The `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
