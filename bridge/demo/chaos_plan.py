"""The chaos run's fault schedule: seeded, printed before the run, executed as written.

    plan = plan_chaos(seed=7, instances=("processor-1", "processor-2", "sink-1", "sink-2", "source"), duration_s=90)
    for line in plan.describe(): print(line)

Every instance is killed (`kill -9`) `kills_per_instance` times at random moments; one broker is killed and
restarted later; a third sink worker joins and leaves again (two rebalances of the sink group); one access token
expires; one burst of 503s with `Retry-After`. The steady Salesforce faults are rates, drawn by the emulator from
the same seed: 5% of requests answered 503, 2% of writes dropped after their commit (the response lost), 2% of
row locks failing with UNABLE_TO_LOCK_ROW.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

KILL = "kill"
BROKER_KILL = "broker_kill"
BROKER_RESTART = "broker_restart"
WORKER_ADD = "worker_add"
WORKER_REMOVE = "worker_remove"
TOKEN_EXPIRY = "token_expiry"  # noqa: S105 - a fault kind, not a secret
RETRY_AFTER_BURST = "retry_after_burst"

EXTRA_SINK = "sink-3"

DEFAULT_RATES = {"unavailable": 0.05, "drop_after_write": 0.02, "unable_to_lock_row": 0.02}


@dataclass(frozen=True, slots=True)
class Action:
    """One fault: when (seconds after the first event is published), what, and on what."""

    at_s: float
    kind: str
    target: str = ""

    def describe(self) -> str:
        """One line of the printed schedule."""
        return f"{self.at_s:7.1f} s  {self.kind:<17} {self.target}".rstrip()


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    """The schedule of one run and the emulator's fault rates."""

    seed: int
    actions: tuple[Action, ...]
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    start_order: tuple[str, ...] = ()

    def counts(self) -> Counter[str]:
        """Actions by kind."""
        return Counter(action.kind for action in self.actions)

    def describe(self) -> list[str]:
        """The schedule as printed before the run."""
        rates = ", ".join(f"{kind} {rate:.0%}" for kind, rate in self.rates.items())
        head = [f"chaos schedule (seed {self.seed}): roles started in the order {', '.join(self.start_order)}"]
        return [*head, f"  emulator fault rates: {rates}", *(f"  {a.describe()}" for a in self.actions)]


def plan_chaos(
    *,
    seed: int,
    instances: Sequence[str],
    duration_s: float,
    kills_per_instance: int = 2,
    brokers: Sequence[int] = (1, 2, 3),
    broker_down_s: float = 15.0,
) -> ChaosPlan:
    """The schedule: kills spread over `duration_s` (never two within 2 s), and one of each other fault."""
    if duration_s < 20:
        raise ValueError(f"a chaos run needs at least 20 s of faults, not {duration_s}")
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not security
    victims = [name for name in instances for _ in range(kills_per_instance)]
    rng.shuffle(victims)
    actions = [
        Action(at_s, KILL, victim) for at_s, victim in zip(_spread(rng, len(victims), duration_s), victims, strict=True)
    ]
    broker_at = rng.uniform(0.2, 0.5) * duration_s
    broker = str(rng.choice(list(brokers)))
    actions += [Action(broker_at, BROKER_KILL, broker), Action(broker_at + broker_down_s, BROKER_RESTART, broker)]
    join_at = rng.uniform(0.3, 0.6) * duration_s
    actions += [Action(join_at, WORKER_ADD, EXTRA_SINK), Action(join_at + 12.0, WORKER_REMOVE, EXTRA_SINK)]
    actions += [
        Action(rng.uniform(0.1, 0.9) * duration_s, TOKEN_EXPIRY, "sink"),
        Action(rng.uniform(0.1, 0.9) * duration_s, RETRY_AFTER_BURST, "20 requests, Retry-After: 2"),
    ]
    order = list(instances)
    rng.shuffle(order)
    return ChaosPlan(seed, tuple(sorted(actions, key=lambda a: a.at_s)), start_order=tuple(order))


def _spread(rng: random.Random, count: int, duration_s: float, gap_s: float = 2.0) -> list[float]:
    """`count` random moments in (1 s, duration_s), one per equal slot, so kills never bunch up."""
    slot = (duration_s - 1.0) / max(count, 1)
    return [round(1.0 + i * slot + rng.uniform(0, max(slot - gap_s, 0.1)), 1) for i in range(count)]
