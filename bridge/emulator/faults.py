"""Scripted faults for tests: latency, 503s, dropped connections after a write, row locks and session expiry.

Each fault is a rule matching requests by method and path prefix, for the next `count` matching requests
(None = until cleared), each matching request with probability `rate` (default every one). The rates draw
from a seeded generator, so a run repeats. An `unavailable` rule with `retry_after_s` answers 503 with a
`Retry-After` header, as a gateway in front of the org does (Salesforce itself sends none).

    org.faults.add("unavailable", path="/services/data/v62.0/composite", count=2)
    org.faults.add("unavailable", count=None, rate=0.05)            # 5% of requests, until cleared
    org.faults.add("unavailable", count=20, retry_after_s=2.0)        # a Retry-After burst
    org.faults.add("drop_after_write", method="PATCH", count=1)
    org.faults.lock_error_rate = 0.05
"""

from __future__ import annotations

import contextlib
import contextvars
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

KINDS = ("latency", "unavailable", "drop_after_write", "unable_to_lock_row", "expire_session")


@dataclass(slots=True)
class FaultRule:
    """Inject `kind` into requests whose path starts with `path` (and whose method is `method`, if set)."""

    kind: str
    path: str = ""
    method: str | None = None
    count: int | None = 1
    latency_ms: float = 0.0
    hits: int = 0
    rate: float | None = None
    retry_after_s: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule applies to this request and still has uses left."""
        if self.count is not None and self.hits >= self.count:
            return False
        return path.startswith(self.path) and (self.method is None or self.method == method.upper())


@dataclass
class Faults:
    """The org's active fault rules and the seeded lock-error rate."""

    seed: int = 0
    lock_error_rate: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)
    _random: random.Random = field(init=False)
    _forced: contextvars.ContextVar[bool] = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - reproducible faults, not security
        # Set while a request matched by an `unable_to_lock_row` rule runs: every row lock in it fails.
        self._forced: contextvars.ContextVar[bool] = contextvars.ContextVar(f"locks_fail_{id(self)}", default=False)

    def add(
        self,
        kind: str,
        *,
        path: str = "",
        method: str | None = None,
        count: int | None = 1,
        latency_ms: float = 0.0,
        rate: float | None = None,
        retry_after_s: float | None = None,
    ) -> FaultRule:
        """Script a fault; see the module docstring."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if rate is not None and not 0.0 < rate <= 1.0:
            raise ValueError(f"a fault rate is in (0, 1], not {rate}")
        method = method.upper() if method else None
        rule = FaultRule(kind, path, method, count, latency_ms, rate=rate, retry_after_s=retry_after_s)
        self.rules.append(rule)
        return rule

    def take(self, kind: str, method: str, path: str) -> FaultRule | None:
        """The first matching rule of `kind`, counting one use of it."""
        for rule in self.rules:
            if rule.kind != kind or not rule.matches(method, path):
                continue
            if rule.rate is not None and self._random.random() >= rule.rate:
                continue
            rule.hits += 1
            return rule
        return None

    def lock_fails(self) -> bool:
        """Whether the next row lock fails: always inside a matched request, else drawn at the configured rate."""
        if self._forced.get():
            return True
        return self.lock_error_rate > 0 and self._random.random() < self.lock_error_rate

    @contextlib.contextmanager
    def locks_failing(self) -> Iterator[None]:
        """Within this context (one request's task), every row lock fails with UNABLE_TO_LOCK_ROW."""
        token = self._forced.set(True)
        try:
            yield
        finally:
            self._forced.reset(token)

    def clear(self) -> None:
        """Remove every rule and the lock-error rate."""
        self.rules.clear()
        self.lock_error_rate = 0.0

    def reseed(self, seed: int) -> None:
        """Restart the random draws from `seed`."""
        self.seed = seed
        self._random = random.Random(seed)  # noqa: S311 - reproducible faults, not security
