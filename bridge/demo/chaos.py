"""`crm-bridge demo --chaos`: the nightly sync on a 3-broker cluster with every role killed while it works.

    report = await run_chaos(ChaosOptions(workdir=Path(".cache/chaos"), seed=7), progress, print)
    report.ok           # every invariant of the demo and of the chaos run held

The cluster starts empty (no topic, `auto.create.topics.enable=false`, replication factor 3,
`min.insync.replicas=2`); 2 processor workers, 2 sink workers and the source start in a seeded random order
under a supervisor that restarts a killed one after 2 s; the scenario is published over the first part of the
run while the schedule (`bridge.demo.chaos_plan`) kills roles, a broker and adds/removes a sink worker. Then the
demo's checks (the org record by record, every rejection in the DLQ with its reason) and the chaos run's own
(`bridge.demo.chaos_check`) decide.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bridge.demo.chaos_check import change_failures, letter_failures, limit_failures, offset_failures
from bridge.demo.chaos_plan import ChaosPlan, plan_chaos
from bridge.demo.chaos_run import Executor, LagProbe, publish_paced, wait_for_topics
from bridge.demo.nightly import Progress, _wait_changes_settle
from bridge.demo.nightly_report import NightlyReport, build_report
from bridge.demo.observe import Outcomes, scrape
from bridge.demo.scenario import Scenario, nightly_scenario
from bridge.demo.stack import CHANNELS, LocalStack, StackOptions
from bridge.demo.supervised import Supervised, role_of
from bridge.demo.verify import verify_org
from bridge.emulator import LatencyModel
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.local import LocalKafkaCluster
from bridge.kafka.topics import processor_topics, sink_topics
from bridge.source.channels import entity_of_channel, kafka_topic

log = logging.getLogger(__name__)

INSTANCES = ("processor-1", "processor-2", "sink-1", "sink-2", "source")
SINK_GROUP = "crm-bridge-chaos-sink"
# Failures of the demo's own report that a kill makes meaningless (a killed role's counters are gone); the
# chaos checks replace them with what Kafka and the org hold.
_COUNTER_BASED = ("conservation:", "never locked out:")


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """The run's size, seed and pace."""

    workdir: Path
    accounts: int = 4_200
    opportunities: int = 1_220
    seed: int = 1
    kills_per_instance: int = 2
    duration_s: float = 90.0
    latency_speed: float = 1.0
    daily_limit: int = 15_000
    timeout_s: float = 600.0
    faults: bool = True  # False: the same deployment and flow without any fault (the benchmark's baseline)
    run_id: str = field(default_factory=lambda: f"chaos{int(time.time())}")


@dataclass(slots=True)
class ChaosReport:
    """The demo's report, the chaos section and the failures of both."""

    nightly: NightlyReport
    chaos: dict[str, Any]
    failures: list[str]

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        """report.json: the demo's document with a `chaos` section; `ok` and `failures` cover both."""
        return self.nightly.as_json() | {"chaos": self.chaos, "failures": self.failures, "ok": self.ok}


def chaos_plan(options: ChaosOptions) -> ChaosPlan:
    """The schedule of this run (printed before it starts)."""
    if not options.faults:
        return ChaosPlan(options.seed, (), rates={}, start_order=INSTANCES)
    return plan_chaos(
        seed=options.seed,
        instances=INSTANCES,
        duration_s=options.duration_s,
        kills_per_instance=options.kills_per_instance,
    )


async def run_chaos(options: ChaosOptions, progress: Progress, announce: Callable[[str], None]) -> ChaosReport:
    """Run the scenario under the schedule on a fresh 3-broker cluster and report on every invariant."""
    plan = chaos_plan(options)
    for line in plan.describe():
        announce(line)
    options.workdir.mkdir(parents=True, exist_ok=True)
    announce("starting 3 Kafka brokers ...")
    cluster = LocalKafkaCluster(3, extra_properties={"auto.create.topics.enable": "false"}).start()
    try:
        stack = LocalStack(
            StackOptions(
                workdir=options.workdir,
                daily_limit=options.daily_limit,
                latency=LatencyModel(speed=options.latency_speed),
                create_topics=False,
                env={"BRIDGE_TOPICS__REPLICATION_FACTOR": "3", "BRIDGE_SINK__GROUP_ID": SINK_GROUP},
            )
        )
        stack.bootstrap_servers = cluster.bootstrap_servers
        async with stack:
            return await _run(stack, cluster, plan, options, progress)
    finally:
        cluster.stop()


def _scenario(options: ChaosOptions) -> Scenario:
    return nightly_scenario(
        accounts=options.accounts, opportunities=options.opportunities, seed=options.seed, run_id=options.run_id
    )


@dataclass(frozen=True, slots=True)
class _Before:
    """The org's counters when the run starts."""

    calls: int
    clock_s: float


async def _run(
    stack: LocalStack, cluster: LocalKafkaCluster, plan: ChaosPlan, options: ChaosOptions, progress: Progress
) -> ChaosReport:
    from bridge.runtime.salesforce_roles import fetch_org_snapshot  # noqa: PLC0415

    settings = stack.settings()
    await fetch_org_snapshot(settings, options.workdir / "org")
    registry = SchemaRegistry.load(settings.processor.schemas_dir)
    scenario, t = _scenario(options), settings.topics
    cdc = tuple(
        kafka_topic(c, entity_of_channel(c), cdc_prefix=t.cdc_prefix, events_prefix=t.events_prefix) for c in CHANNELS
    )
    for kind, rate in plan.rates.items():
        stack.org.faults.add(kind, count=None, rate=rate)
    stack.org.faults.reseed(plan.seed)
    before = _Before(stack.org.api_usage.used(), stack.org.clock())
    async with Supervised(options.workdir, stack.process_environment()) as roles:
        topics = {s.name for s in [*processor_topics(settings, registry.topics), *sink_topics(settings)]}
        await _start_in_order(roles, plan, cluster.bootstrap_servers, topics)
        async with Outcomes(cluster.bootstrap_servers, t, options.run_id, cdc) as outcomes:
            started = time.perf_counter()
            groups: dict[str, tuple[str, Sequence[str]]] = {
                "processor": (settings.processor.app_id, tuple(registry.topics)),
                "sink": (SINK_GROUP, (t.realtime, t.bulk)),
            }
            probe = LagProbe(cluster.bootstrap_servers, groups)
            executor = Executor(plan, roles, cluster, stack.org)
            async with probe, executor:
                published = await publish_paced(settings, registry, scenario, progress, 0.6 * options.duration_s)
                await _wait_done(scenario, outcomes, probe, executor, progress, options.timeout_s)
                wall_s = time.perf_counter() - started
                await _wait_changes_settle(stack, outcomes, progress)
            stack.metrics_urls.update(roles.metrics_urls)
            nightly = build_report(
                scenario,
                outcomes,
                verify_org(scenario, stack.org, options.run_id),
                metrics=await _metrics(roles.metrics_urls),
                published=published,
                api_calls=stack.org.api_usage.used() - before.calls,
                wall_s=wall_s,
                stack=stack,
            )
            failures = await _chaos_failures(nightly, outcomes, stack, cluster, before)
            failures += executor.failures(plan)
            failures += [f"{name} exited by itself with code {code}" for _, name, code in roles.unexpected_exits]
            return ChaosReport(nightly, executor.section(plan, roles, probe, stack.org, nightly), failures)


async def _start_in_order(roles: Supervised, plan: ChaosPlan, bootstrap: str, topics: set[str]) -> None:
    """The instances in the plan's order, a random moment apart, then until they have created their topics."""
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible start order, not security
    for name in plan.start_order:
        await roles.start(name)
        await asyncio.sleep(rng.uniform(0.0, 1.5))
    await wait_for_topics(bootstrap, topics, timeout_s=120)


async def _chaos_failures(
    nightly: NightlyReport, outcomes: Outcomes, stack: LocalStack, cluster: LocalKafkaCluster, before: _Before
) -> list[str]:
    """The demo's failures less the counter-based ones, and the chaos run's own checks."""
    t = outcomes.topics
    failures = [f for f in nightly.failures if not f.startswith(_COUNTER_BASED)]
    failures += change_failures(outcomes, stack.org, CHANNELS)
    failures += letter_failures(outcomes)
    failures += limit_failures(stack.org, before.clock_s)
    failures += await offset_failures(cluster.bootstrap_servers, SINK_GROUP, (t.realtime, t.bulk), outcomes)
    return failures


async def _wait_done(  # noqa: PLR0917 - the run's parts, each needed
    scenario: Scenario, outcomes: Outcomes, probe: LagProbe, executor: Executor, progress: Progress, timeout_s: float
) -> None:
    """Until every event has its outcome, both groups have no lag, and the whole schedule has run."""
    must_account = scenario.distinct_ids - scenario.stale_ids
    progress.stage("sync under faults", len(must_account))
    deadline = time.monotonic() + timeout_s
    while True:
        accounted = outcomes.written_ids | outcomes.dead_lettered_ids
        progress.advance("sync under faults", len(accounted & must_account))
        if must_account <= accounted and executor.finished and probe.drained:
            return
        if time.monotonic() > deadline:
            missing = sorted(must_account - accounted)
            raise TimeoutError(f"{len(missing)} events without an outcome after {timeout_s:.0f} s, e.g. {missing[:5]}")
        await asyncio.sleep(0.5)


async def _metrics(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """The instances' current counters summed per role (a killed incarnation's counts are lost with it)."""
    summed: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient() as http:
        for name, url in urls.items():
            role = summed.setdefault(role_of(name), {})
            for key, value in (await scrape(url, http)).items():
                role[key] = role.get(key, 0.0) + value
    return summed
