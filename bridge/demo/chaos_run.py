"""The moving parts of a chaos run: the schedule's executor, the consumer groups' lag, a paced publisher.

groups = {"processor": ("crm-bridge-processor", domain_topics), "sink": ("crm-bridge-chaos-sink", write_topics)}
async with LagProbe(bootstrap, groups) as probe, Executor(plan, roles, cluster, org) as executor:
    ...                               # executor.finished, probe.drained, executor.section(...)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bridge.config import Settings
from bridge.demo.chaos_plan import (
    BROKER_KILL,
    BROKER_RESTART,
    KILL,
    RETRY_AFTER_BURST,
    TOKEN_EXPIRY,
    WORKER_ADD,
    WORKER_REMOVE,
    Action,
    ChaosPlan,
)
from bridge.demo.nightly import Progress
from bridge.demo.scenario import Scenario
from bridge.demo.supervised import Supervised, role_of
from bridge.emulator import Org
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.local import LocalKafkaCluster
from bridge.publisher import Publisher

if TYPE_CHECKING:
    from bridge.demo.nightly_report import NightlyReport

log = logging.getLogger(__name__)

_PUBLISH_BATCH = 200
_RETRY_KILL_S = 1.0


async def wait_for_topics(bootstrap: str, names: set[str], timeout_s: float) -> None:
    """Until every topic in `names` exists (the roles create them); TimeoutError naming the missing ones."""
    deadline = time.monotonic() + timeout_s
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while not names <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                missing = sorted(names - set(await admin.list_topics()))
                raise TimeoutError(f"the roles did not create {missing} in {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def publish_paced(
    settings: Settings, registry: SchemaRegistry, scenario: Scenario, progress: Progress, spread_s: float
) -> int:
    """Publish the scenario evenly over `spread_s`, so the faults land while work is in flight."""
    events = scenario.events
    progress.stage("publish", len(events))
    batches = max(1, -(-len(events) // _PUBLISH_BATCH))
    pause_s = spread_s / batches
    acknowledged = 0
    async with Publisher(settings, schemas=registry) as publisher:
        for start in range(0, len(events), _PUBLISH_BATCH):
            results = await publisher.publish_many(events[start : start + _PUBLISH_BATCH])
            acknowledged += sum(1 for r in results if r.ok)
            progress.advance("publish", start + len(results))
            await asyncio.sleep(pause_s)
    return acknowledged


class LagProbe:
    """Samples, once a second, the processor group's lag on the domain topics and the sink group's on its own."""

    def __init__(self, bootstrap: str, groups: dict[str, tuple[str, Sequence[str]]]) -> None:
        self._bootstrap = bootstrap
        self._groups = groups  # role → (its consumer group, the topics it reads)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="chaos:lag")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def drained(self) -> bool:
        """The last two samples saw no lag in either group."""
        return len(self.samples) >= 2 and all(not any(lags.values()) for _, lags in self.samples[-2:])

    def recovery_s(self, role: str, killed_at: float, restarted_at: float | None) -> float | None:
        """From a kill until the group's lag falls again (or is 0) after the restart; None: never seen."""
        if restarted_at is None:
            return None
        if role not in self._groups:
            return round(restarted_at - killed_at, 2)
        previous: int | None = None
        for at, lags in self.samples:
            lag = lags.get(role, 0)
            if at > restarted_at and (lag == 0 or (previous is not None and lag < previous)):
                return round(at - killed_at, 2)
            previous = lag
        return None

    async def _run(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            while True:
                with contextlib.suppress(KafkaError, OSError):
                    self.samples.append((time.monotonic(), await self._lags(admin, consumer)))
                await asyncio.sleep(1.0)
        finally:
            await consumer.stop()
            await admin.close()

    async def _lags(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> dict[str, int]:
        lags: dict[str, int] = {}
        for role, (group, topics) in self._groups.items():
            described = await admin.describe_topics(list(topics))
            partitions = [
                TopicPartition(d["topic"], p["partition"])
                for d in described
                if d.get("error_code", 0) == 0
                for p in d["partitions"]
            ]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(partitions) if partitions else {}
            lags[role] = sum(end - max(committed[tp].offset, 0) if tp in committed else end for tp, end in ends.items())
        return lags


class Executor:
    """Runs the schedule's actions at their times (from entering), against the roles, the cluster and the org."""

    def __init__(self, plan: ChaosPlan, roles: Supervised, cluster: LocalKafkaCluster, org: Org) -> None:
        self._plan, self._roles, self._cluster, self._org = plan, roles, cluster, org
        self.executed: list[tuple[float, Action]] = []
        self.errors: list[str] = []
        self._down: set[int] = set()
        self._started = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="chaos:schedule")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for node in sorted(self._down):  # never leave the cluster short for the checks that follow
            await asyncio.to_thread(self._cluster.restart, node)

    @property
    def finished(self) -> bool:
        """Every action has run (or failed, which `failures` reports)."""
        return self._task is not None and self._task.done()

    async def _run(self) -> None:
        for action in self._plan.actions:
            await asyncio.sleep(max(0.0, self._started + action.at_s - time.monotonic()))
            try:
                await self._do(action)
            except Exception as exc:  # noqa: BLE001 - a failed fault is reported, and the run goes on
                self.errors.append(f"{action.describe().strip()}: {exc!r}")
                continue
            self.executed.append((time.monotonic() - self._started, action))
            log.info("chaos: %s", action.describe().strip())

    async def _do(self, action: Action) -> None:
        if action.kind == KILL:
            await self._kill(action.target)
        elif action.kind == BROKER_KILL:
            self._cluster.kill(int(action.target))
            self._down.add(int(action.target))
        elif action.kind == BROKER_RESTART:
            await asyncio.to_thread(self._cluster.restart, int(action.target))
            self._down.discard(int(action.target))
        elif action.kind == WORKER_ADD:
            await self._roles.start(action.target)
        elif action.kind == WORKER_REMOVE:
            await self._roles.remove(action.target)
        elif action.kind == TOKEN_EXPIRY:
            self._org.faults.add("expire_session", count=1)
        elif action.kind == RETRY_AFTER_BURST:
            self._org.faults.add("unavailable", count=20, retry_after_s=2.0)

    async def _kill(self, name: str) -> None:
        """Kill the instance; if it is between incarnations, wait for it to be back (up to 30 s)."""
        deadline = time.monotonic() + 30.0
        while not self._roles.running(name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not running")
            await asyncio.sleep(_RETRY_KILL_S)
        self._roles.kill(name)

    def failures(self, plan: ChaosPlan) -> list[str]:
        """The schedule as written must have run: every action, each exactly once."""
        missing = len(plan.actions) - len(self.executed)
        failures = [f"the fault schedule: {e}" for e in self.errors]
        if missing and not self.errors:
            failures.append(f"the fault schedule: {missing} actions never ran")
        return failures

    def section(
        self, plan: ChaosPlan, roles: Supervised, probe: LagProbe, org: Org, nightly: NightlyReport
    ) -> dict[str, Any]:
        """report.json's `chaos` section: the schedule executed, recovery after each kill, the faults' cost."""
        kinds = Counter(action.kind for _, action in self.executed)
        recoveries: list[dict[str, Any]] = []
        for killed_at, name in roles.kills:
            restarted = next((at for at, n in roles.restarts if n == name and at > killed_at), None)
            recovery = probe.recovery_s(role_of(name), killed_at, restarted)
            recoveries.append({"instance": name, "at_s": round(killed_at - self._started, 1), "recovery_s": recovery})
        known: list[float] = [r["recovery_s"] for r in recoveries if r["recovery_s"] is not None]
        return {
            "seed": plan.seed,
            "start_order": list(plan.start_order),
            "schedule": [action.describe().strip() for action in plan.actions],
            "executed": [f"{at:7.1f} s  {a.kind} {a.target}".strip() for at, a in self.executed],
            "kills": len(roles.kills),
            "kills_by_role": dict(Counter(role_of(name) for _, name in roles.kills)),
            "restarts": len(roles.restarts),
            "broker_kills": kinds[BROKER_KILL],
            "rebalances": kinds[WORKER_ADD] + kinds[WORKER_REMOVE],
            "faults_injected": _faults_injected(org, kinds),
            "recovery": recoveries,
            "recovery_s_max": max(known) if known else None,
            "extra_api_calls": nightly.api_calls - nightly.api_calls_minimum,
        }


def _faults_injected(org: Org, kinds: Counter[str]) -> dict[str, int]:
    hits: Counter[str] = Counter()
    for rule in org.faults.rules:
        name = "retry_after_503" if rule.retry_after_s is not None else rule.kind
        hits[name] += rule.hits
    return dict(hits) | {"token_expiries_scheduled": kinds[TOKEN_EXPIRY]}
