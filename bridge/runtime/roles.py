"""The worker roles of a deployment and how each is built from `Settings` and run until told to stop.

    await run_role("ingest", settings, stop)    # returns once `stop` is set and the role has drained

Every role serves `/healthz`, `/readyz` and `/metrics` on `metrics.host:metrics.port`. The processor is the
exception in shape only: faust's Worker owns its loop, so it runs through `run_processor` (blocking).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.metrics import Metrics
from bridge.runtime.serving import serving
from bridge.server import ConnectionLimits, WorkerServer

log = logging.getLogger(__name__)

Role = Literal["processor", "sink", "source", "ingest"]
ROLES: tuple[Role, ...] = ("processor", "sink", "source", "ingest")

RoleRunner = Callable[[Settings, Metrics, asyncio.Event], Awaitable[None]]


async def run_ingest(settings: Settings, metrics: Metrics, stop: asyncio.Event) -> None:
    """HTTP(S) ingest on `ingest.host:ingest.port`, authenticated, publishing through an idempotent acks=all producer.

    The token file and the TLS files are read before Kafka is contacted: a misconfigured ingest stops at once."""
    from bridge.events.schemas import SchemaRegistry  # noqa: PLC0415 - each role loads only what it runs
    from bridge.ingest import Guard, ReloadingTLS, create_ingest_app  # noqa: PLC0415
    from bridge.kafka.topics import ensure_topics, ingest_topics  # noqa: PLC0415
    from bridge.publisher import Publisher  # noqa: PLC0415

    ingest_settings = settings.ingest
    guard = Guard.from_settings(ingest_settings)
    tls = ReloadingTLS.from_settings(ingest_settings)
    limits = ConnectionLimits(ingest_settings.header_timeout_s, ingest_settings.max_connections)
    if not guard.required:
        log.warning("ingest.auth=none: anyone who reaches %s may publish (for a local demo only)", ingest_settings.port)
    registry = SchemaRegistry.load(settings.processor.schemas_dir)
    await ensure_topics(settings.kafka, ingest_topics(settings, registry.topics))
    async with Publisher(settings, schemas=registry) as publisher:
        ingest_app = create_ingest_app(publisher, ingest_settings, metrics, guard=guard)
        server = WorkerServer(
            ingest_app,
            host=ingest_settings.host,
            port=ingest_settings.port,
            tls=tls.context if tls is not None else None,
            limits=limits,
        )
        async with serving(settings, metrics, {"kafka": publisher.ready}), server as ingest:
            log.info("ingest accepting CloudEvents on %s/v1/events", ingest.url)
            await stop.wait()


def role_runner(role: Role) -> RoleRunner:
    """The async runner of an asyncio role (every role but the processor)."""
    runners: dict[str, RoleRunner] = {"ingest": run_ingest, **_salesforce_roles()}
    if role not in runners:
        raise ConfigError(f"role {role!r} has no asyncio runner (known: {', '.join(sorted(runners))})")
    return runners[role]


def _salesforce_roles() -> dict[str, RoleRunner]:
    from bridge.runtime.salesforce_roles import run_sink, run_source  # noqa: PLC0415

    return {"sink": run_sink, "source": run_source}


def run_processor(settings: Settings, org_dir: Path | None, log_level: str) -> None:
    """The faust worker, blocking until SIGTERM; validation metadata from `org_dir` or read from the org."""
    from bridge.processor.worker import run_worker  # noqa: PLC0415

    if org_dir is None:
        from bridge.runtime.salesforce_roles import fetch_org_snapshot  # noqa: PLC0415

        org_dir = asyncio.run(fetch_org_snapshot(settings))
    run_worker(settings, org_dir, metrics_port=settings.metrics.port, log_level=log_level)
