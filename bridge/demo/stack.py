"""The demo's local deployment: a Kafka broker, the Salesforce emulator, and the bridge's roles as real processes.

    async with LocalStack(StackOptions(workdir=Path("demo-run"))) as stack:
        stack.org                     # the emulated org, for checking what the sync left behind
        stack.metrics_urls            # role → its /metrics URL

Each role runs as `crm-bridge run <role>` in its own process, configured only through `BRIDGE_*` variables, exactly
as in a deployment. Kafka comes from `BRIDGE_KAFKA__BOOTSTRAP_SERVERS` when set, else a local broker is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import orjson

from bridge.config import Settings
from bridge.emulator import EmulatorServer, LatencyModel, Org
from bridge.errors import BridgeError
from bridge.kafka.local import LocalKafka
from bridge.kafka.processes import PARENT_PID_ENV, free_ports
from bridge.kafka.topics import bridge_topics, ensure_topics

log = logging.getLogger(__name__)


class RoleDied(BridgeError):
    """A role's process ended while the demo needed it: which role, how it ended, and where its log is."""

    def __init__(self, role: str, code: int, log_path: Path, log_tail: str) -> None:
        self.role, self.code, self.log_path, self.log_tail = role, code, log_path, log_tail
        super().__init__(f"role {role} {_how_it_ended(code)}; its log: {log_path}")


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"


CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - the emulator's published test credential, not a secret
CHANNELS = ("/data/AccountChangeEvent", "/data/OpportunityChangeEvent")
ROLES = ("processor", "sink", "source")
_STOP_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class StackOptions:
    """How the local deployment is set up."""

    workdir: Path
    daily_limit: int = 15_000
    latency: LatencyModel = field(default_factory=lambda: LatencyModel(speed=1.0))
    partitions: int = 6
    parent_wait_s: float = 30.0
    bulk_threshold_records: int = 10_000
    trigger_bypass: bool = True
    # False: the broker is left empty and the roles create the topics they need, as in a fresh deployment.
    create_topics: bool = True
    # Extra `BRIDGE_*` variables for every role, applied last (e.g. a source checkpoint topic of a run's own,
    # so runs that share a broker do not resume each other's replay ids).
    env: dict[str, str] = field(default_factory=dict)


class LocalStack:
    """Kafka, the emulator and the roles; an async context manager that stops everything it started."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.org = Org(daily_limit=options.daily_limit, latency=options.latency)
        self.bootstrap_servers = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS", "")
        self.metrics_urls: dict[str, str] = {}
        self.emulator: EmulatorServer | None = None
        self._stack = AsyncExitStack()
        self._children: dict[str, asyncio.subprocess.Process] = {}

    def __repr__(self) -> str:
        return f"LocalStack(bootstrap={self.bootstrap_servers!r}, roles={sorted(self._children)})"

    async def __aenter__(self) -> Self:
        self.options.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.bootstrap_servers:
                # Started from the main thread (blocking for a few seconds before anything else runs), so the broker
                # gets PR_SET_PDEATHSIG and dies with the demo even when the demo is killed.
                broker = LocalKafka().start()
                self._stack.callback(broker.stop)
                self.bootstrap_servers = broker.bootstrap_servers
            self.emulator = await self._stack.enter_async_context(EmulatorServer(self.org, pubsub_port=0))
            await self.set_bypass(enabled=self.options.trigger_bypass)
            if self.options.create_topics:
                await ensure_topics(self.settings().kafka, bridge_topics(self.settings()))
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_roles()
        await self._stack.aclose()

    def environment(self) -> dict[str, str]:
        """The `BRIDGE_*` variables every role gets: this stack's Kafka and emulator, no secrets of a real org."""
        assert self.emulator is not None, "enter the stack first"  # noqa: S101 - programming error
        options = self.options
        return {
            "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "BRIDGE_TOPICS__PARTITIONS": str(options.partitions),
            "BRIDGE_SALESFORCE__LOGIN_URL": self.emulator.url,
            "BRIDGE_SALESFORCE__AUTH_FLOW": "client_credentials",
            "BRIDGE_SALESFORCE__CLIENT_ID": CLIENT_ID,
            "BRIDGE_SALESFORCE__CLIENT_SECRET": CLIENT_SECRET,
            "BRIDGE_SALESFORCE__USERNAME": self.org.user(None).username,
            "BRIDGE_GOVERNOR__DAILY_LIMIT_CALLS": str(options.daily_limit),
            "BRIDGE_SINK__PARENT_WAIT_S": str(options.parent_wait_s),
            "BRIDGE_SINK__BULK_THRESHOLD_RECORDS": str(options.bulk_threshold_records),
            "BRIDGE_SOURCE__PUBSUB_TARGET": self.emulator.pubsub_target or "",
            "BRIDGE_SOURCE__PUBSUB_TLS": "false",
            "BRIDGE_SOURCE__TENANT_ID": self.org.profile.org_id,
            "BRIDGE_SOURCE__CHANNELS": orjson.dumps(list(CHANNELS)).decode(),
            "BRIDGE_PROCESSOR__ORG_DIR": str(options.workdir / "org"),
        } | options.env

    def process_environment(self) -> dict[str, str]:
        """This process's environment without its own `BRIDGE_*` variables, plus this stack's."""
        return {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | self.environment()

    def settings(self) -> Settings:
        """The bridge's settings as the roles see them (for in-process work: the catalog, the Publisher)."""
        return Settings.from_environment(self.process_environment())

    async def set_bypass(self, *, enabled: bool) -> None:
        """The integration user's trigger bypass, set through the REST API as `crm-bridge mediation` does."""
        from bridge.emulator import trigger_map  # noqa: PLC0415
        from bridge.mediation import Mediation  # noqa: PLC0415
        from bridge.runtime.salesforce_roles import salesforce_client  # noqa: PLC0415

        mediation_map = trigger_map(self.org.profile)
        settings = self.settings()
        async with salesforce_client(settings) as client:
            mediation = Mediation(client, mediation_map)
            username = self.org.user(None).username
            await (mediation.enable(username) if enabled else mediation.disable(username))

    async def start_roles(self, roles: tuple[str, ...] = ROLES) -> None:
        """Start each role as `crm-bridge run <role>`, each with its own metrics port and log file."""
        ports = free_ports(len(roles))
        base_env = self.process_environment()
        for role, port in zip(roles, ports, strict=True):
            env = (
                base_env
                | {"BRIDGE_METRICS__PORT": str(port), "BRIDGE_SINK__GROUP_ID": "crm-bridge-demo-sink"}
                | self.options.env
            )
            log_file = (self.options.workdir / f"{role}.log").open("ab")
            self._stack.callback(log_file.close)
            command = [sys.executable, "-m", "bridge", "--log-level", "WARNING", "run", role]
            # The roles end with the demo, even when it is killed (they arm PR_SET_PDEATHSIG themselves).
            self._children[role] = await asyncio.create_subprocess_exec(
                *command,
                env=env | {PARENT_PID_ENV: str(os.getpid())},
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            self.metrics_urls[role] = f"http://127.0.0.1:{port}/metrics"
            log.info("started %s (pid %d), metrics on port %d", role, self._children[role].pid, port)

    def exited(self) -> dict[str, int]:
        """Roles whose process has ended, with their exit codes."""
        return {role: p.returncode for role, p in self._children.items() if p.returncode is not None}

    def check_roles(self) -> None:
        """Raise `RoleDied` for the first role whose process has ended."""
        for role, code in self.exited().items():
            raise RoleDied(role, code, self.options.workdir / f"{role}.log", self.log_tail(role))

    def log_tail(self, role: str, lines: int = 20) -> str:
        """The end of a role's log, for error messages."""
        path = self.options.workdir / f"{role}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def stop_roles(self) -> None:
        """SIGTERM every role and wait for it; SIGKILL what does not stop in time."""
        for process in self._children.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for role, process in self._children.items():
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                log.warning("%s did not stop in %.0f s; killing it", role, _STOP_GRACE_S)
                process.kill()
                await process.wait()
