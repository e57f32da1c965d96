"""One sink worker as its own process, configured by `BRIDGE_*` variables: for kill -9 and multi-worker tests.

python -m tests.sink.sink_process       # SIGTERM stops it gracefully; SIGKILL is the crash under test
"""

from __future__ import annotations

import asyncio
import signal

from bridge.config import Settings
from bridge.metrics import Metrics
from bridge.salesforce import SalesforceClient, auth_from_settings
from bridge.sink.runner import build_gate, run_sink


async def main() -> None:
    settings = Settings()
    metrics = Metrics.create()
    gate = build_gate(settings, metrics)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    auth = auth_from_settings(settings.salesforce)
    async with SalesforceClient(settings.salesforce, auth, on_limit_info=gate.observe, metrics=metrics) as client:
        await run_sink(settings, client, gate, stop, metrics=metrics)


if __name__ == "__main__":
    asyncio.run(main())
