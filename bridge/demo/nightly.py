"""The main job end to end: the nightly sync of accounts and opportunities through a real local deployment.

    report = await run_nightly(NightlyOptions(workdir=Path(".cache/demo")), progress)
    report.ok           # every invariant held; report.failures says which did not

Flow: start Kafka, the emulator (15,000-call daily limit, realistic latency) and the roles (`crm-bridge run
processor|sink|source`); snapshot the org's metadata for validation as `crm-bridge catalog` does; publish the
scenario through the Publisher; wait until every event is accounted for (written, skipped, dead-lettered); then
check the org record by record and collect the figures from the roles' `/metrics` and the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.config import Settings
from bridge.demo.nightly_report import NightlyReport, build_report
from bridge.demo.observe import Outcomes, scrape, total
from bridge.demo.scenario import CUSTOMER_TYPE, DEAL_TYPE, Scenario, nightly_scenario
from bridge.demo.stack import CHANNELS, LocalStack, StackOptions
from bridge.demo.verify import verify_org
from bridge.emulator import LatencyModel
from bridge.events.schemas import SchemaRegistry
from bridge.kafka.topics import TopicSpec, ensure_topics
from bridge.publisher import Publisher
from bridge.source.channels import entity_of_channel, kafka_topic
from bridge.types import Lane

_PUBLISH_BATCH = 2_000
_POLL_S = 0.5
_SETTLE_S = 3.0
_LOG_EVERY_S = 10.0

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Where the demo reports how far it is (a progress bar in the CLI, nothing in tests)."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, name: str, done: int) -> None: ...


@dataclass(frozen=True, slots=True)
class NightlyOptions:
    """The scenario's size and the deployment it runs on."""

    workdir: Path
    accounts: int = 42_000
    opportunities: int = 12_200
    seed: int = 42
    run_id: str = field(default_factory=lambda: f"nightly{int(time.time())}")
    daily_limit: int = 15_000
    latency_speed: float = 1.0
    trigger_bypass: bool = True
    bulk_threshold_records: int = 10_000
    parent_wait_s: float = 30.0
    timeout_s: float = 3_600.0
    invalid_share: float = 0.03
    duplicate_share: float = 0.05
    out_of_order_share: float = 0.01
    delete_share: float = 0.01
    env: dict[str, str] = field(default_factory=dict)  # extra `BRIDGE_*` variables for the roles (StackOptions.env)
    isolate: bool = False  # the broker is shared with other runs: see `isolated_env`


def isolated_env(run_id: str) -> dict[str, str]:
    """Role variables that keep one run apart from earlier runs on the same broker (`NightlyOptions.isolate`).

    Each run has a fresh emulator whose replay ids start again at 1, so its source gets checkpoints of its own.
    The processor and the sink get consumer groups of their own, started at the topics' ends: a group shared with
    an earlier run would hand this run the earlier one's uncommitted events (at least once) and stale members.
    """
    return {
        "BRIDGE_SOURCE__TRANSACTIONAL_ID": f"crm-bridge-source-{run_id}",
        "BRIDGE_TOPICS__SOURCE_CHECKPOINTS": f"crm.source.checkpoints.{run_id}",
        "BRIDGE_PROCESSOR__APP_ID": f"crm-bridge-processor-{run_id}",
        "BRIDGE_SINK__GROUP_ID": f"crm-bridge-demo-sink-{run_id}",
    }


async def start_groups_at_end(bootstrap_servers: str, groups: dict[str, tuple[str, ...]]) -> None:
    """Commit each consumer group's offsets at the current end of its (existing) topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        wanted = sorted({topic for topics in groups.values() for topic in topics})
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    partitions = {
        d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
        for d in described
        if d.get("error_code", 0) == 0
    }
    for group_id, topics in groups.items():
        assigned = [tp for topic in topics for tp in partitions.get(topic, ())]
        if not assigned:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(assigned)
            await consumer.commit(await consumer.end_offsets(assigned))
        finally:
            await consumer.stop()


async def run_nightly(options: NightlyOptions, progress: Progress) -> NightlyReport:
    """Run the scenario on a fresh local deployment and report on it."""
    scenario = nightly_scenario(
        accounts=options.accounts,
        opportunities=options.opportunities,
        invalid_share=options.invalid_share,
        duplicate_share=options.duplicate_share,
        out_of_order_share=options.out_of_order_share,
        delete_share=options.delete_share,
        seed=options.seed,
        run_id=options.run_id,
    )
    stack_options = StackOptions(
        workdir=options.workdir,
        daily_limit=options.daily_limit,
        latency=LatencyModel(speed=options.latency_speed),
        parent_wait_s=options.parent_wait_s,
        bulk_threshold_records=options.bulk_threshold_records,
        trigger_bypass=options.trigger_bypass,
        env=(isolated_env(options.run_id) if options.isolate else {}) | options.env,
    )
    async with LocalStack(stack_options) as stack:
        return await _run(stack, scenario, options, progress)


async def prepare_stack(stack: LocalStack, *, isolate: bool) -> tuple[Settings, SchemaRegistry, tuple[str, ...]]:
    """The org snapshot the processor validates against, the domain and change-event topics, and (`isolate`) the
    roles' consumer groups started at the topics' ends; the settings, schemas and change-event topics in use."""
    from bridge.runtime.salesforce_roles import fetch_org_snapshot  # noqa: PLC0415

    settings = stack.settings()
    await fetch_org_snapshot(settings, stack.options.workdir / "org")
    registry = SchemaRegistry.load(settings.processor.schemas_dir)
    t = settings.topics
    specs = [registry.spec(name) for name in (CUSTOMER_TYPE, DEAL_TYPE)]
    domain = sorted({topic for spec in specs for topic in (spec.topic, spec.topic_for(Lane.REALTIME))})
    cdc = tuple(
        kafka_topic(c, entity_of_channel(c), cdc_prefix=t.cdc_prefix, events_prefix=t.events_prefix) for c in CHANNELS
    )
    await ensure_topics(settings.kafka, [TopicSpec(n, t.partitions, t.replication_factor, {}) for n in (*domain, *cdc)])
    if isolate:
        processor_topics = settings.processor.source_topics or registry.topics
        groups = {settings.processor.app_id: processor_topics, settings.sink.group_id: (t.realtime, t.bulk)}
        await start_groups_at_end(stack.bootstrap_servers, groups)
    return settings, registry, cdc


async def _run(stack: LocalStack, scenario: Scenario, options: NightlyOptions, progress: Progress) -> NightlyReport:
    settings, registry, cdc = await prepare_stack(stack, isolate=options.isolate)
    t = settings.topics
    calls_before = stack.org.api_usage.used()
    started = time.perf_counter()
    async with Outcomes(stack.bootstrap_servers, t, options.run_id, cdc) as outcomes:
        await stack.start_roles()
        published = await publish_scenario(settings, registry, scenario, progress)
        async with httpx.AsyncClient() as http:
            await wait_accounted(
                stack, scenario=scenario, outcomes=outcomes, http=http, progress=progress, timeout_s=options.timeout_s
            )
            wall_s = time.perf_counter() - started
            await _wait_changes_settle(stack, outcomes, progress)
            stack.check_roles()
            metrics = {role: await scrape(url, http) for role, url in stack.metrics_urls.items()}
        # The roles stop with the stack: keep their last figures beside their logs (benchmarks read them).
        (options.workdir / "metrics.json").write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
        check = verify_org(scenario, stack.org, options.run_id)
        calls = stack.org.api_usage.used() - calls_before
        return build_report(
            scenario, outcomes, check, metrics=metrics, published=published, api_calls=calls, wall_s=wall_s, stack=stack
        )


async def publish_scenario(settings: Settings, registry: SchemaRegistry, scenario: Scenario, progress: Progress) -> int:
    progress.stage("publish", len(scenario.events))
    acknowledged = 0
    async with Publisher(settings, schemas=registry) as publisher:
        for start in range(0, len(scenario.events), _PUBLISH_BATCH):
            results = await publisher.publish_many(scenario.events[start : start + _PUBLISH_BATCH])
            acknowledged += sum(1 for r in results if r.ok)
            progress.advance("publish", start + len(results))
    return acknowledged


async def wait_accounted(
    stack: LocalStack,
    *,
    scenario: Scenario,
    outcomes: Outcomes,
    http: httpx.AsyncClient,
    progress: Progress,
    timeout_s: float,
) -> None:
    """Until every event that must reach an outcome has one (written or dead-lettered), and the skips add up."""
    must_account = scenario.distinct_ids - scenario.stale_ids
    deliveries = len(scenario.events)
    progress.stage("sync", deliveries)
    deadline = time.monotonic() + timeout_s
    next_log = time.monotonic() + _LOG_EVERY_S
    while True:
        stack.check_roles()
        processor = await scrape(stack.metrics_urls["processor"], http)
        # Every delivery is accounted for by the processor (forwarded, skipped or dead-lettered), and every
        # event that must reach an outcome has one on crm.results or crm.dlq.
        seen_by_processor = int(total(processor, "bridge_events_total"))
        accounted = outcomes.written_ids | outcomes.dead_lettered_ids
        progress.advance("sync", min(deliveries, len(accounted & must_account) + deliveries - len(must_account)))
        if must_account <= accounted and seen_by_processor >= deliveries:
            return
        if time.monotonic() > deadline:
            missing = sorted(must_account - accounted)
            raise TimeoutError(f"{len(missing)} events without an outcome after {timeout_s:.0f} s, e.g. {missing[:5]}")
        if time.monotonic() >= next_log:
            next_log = time.monotonic() + _LOG_EVERY_S
            missing = sorted(must_account - accounted)
            log.info(
                "waiting for %d outcomes (e.g. %s); the processor saw %d of %d deliveries",
                len(missing),
                missing[:3],
                seen_by_processor,
                deliveries,
            )
        await asyncio.sleep(_POLL_S)


async def _wait_changes_settle(stack: LocalStack, outcomes: Outcomes, progress: Progress, max_s: float = 60.0) -> None:
    """Change events of the last writes take a moment to flow back through the source; wait until they stop."""
    progress.stage("change events", 0)
    last, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + max_s
    while time.monotonic() < deadline:
        stack.check_roles()
        if outcomes.changes != last:
            last, quiet_since = outcomes.changes, time.monotonic()
            progress.advance("change events", last)
        elif time.monotonic() - quiet_since >= _SETTLE_S:
            return
        await asyncio.sleep(_POLL_S)
