"""What every role serves beside its work: `/healthz`, `/readyz` and `/metrics` on `metrics.host:metrics.port`.

    async with serving(settings, metrics, {"kafka": consumer_ready}):
        ...

Below both role modules (`roles`, `salesforce_roles`), so that neither imports the other for it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from bridge.config import Settings
from bridge.metrics import Metrics
from bridge.server import ReadinessCheck, WorkerServer, create_app

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, metrics: Metrics, checks: Mapping[str, ReadinessCheck]
) -> AsyncIterator[WorkerServer]:
    """Health, readiness and metrics on the configured metrics address."""
    app = create_app(metrics.registry, checks)
    async with WorkerServer(app, host=settings.metrics.host, port=settings.metrics.port) as server:
        log.info("serving /metrics, /healthz and /readyz on %s", server.url)
        yield server
