"""Role instances as real processes, restarted after a short delay when they die, the way Kubernetes does.

    async with Supervised(workdir, env, restart_delay_s=2.0) as roles:
        await roles.start("sink-1")          # `crm-bridge run sink`, metrics on a port of its own
        roles.kill("sink-1")                 # SIGKILL; it comes back after the delay
        roles.kills, roles.restarts          # what happened, with times

An instance is named `<role>-<n>` (or just `<role>`); every incarnation appends to `<workdir>/<instance>.log`
and keeps its instance's metrics port, so a scrape after a restart finds it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from bridge.kafka.processes import PARENT_PID_ENV, free_ports

log = logging.getLogger(__name__)

_STOP_GRACE_S = 30.0


def role_of(instance: str) -> str:
    """`sink-2` → `sink`; `source` → `source`."""
    return instance.rsplit("-", 1)[0] if instance[-1].isdigit() and "-" in instance else instance


@dataclass(slots=True)
class _Instance:
    name: str
    port: int
    process: asyncio.subprocess.Process | None = None
    watcher: asyncio.Task[None] | None = None
    wanted: bool = True  # False once removed or stopping: do not restart
    incarnations: int = 0


@dataclass(slots=True)
class Supervised:
    """The role processes of one run (an async context manager that stops all of them)."""

    workdir: Path
    env: dict[str, str]
    restart_delay_s: float = 2.0
    kills: list[tuple[float, str]] = field(default_factory=list)
    restarts: list[tuple[float, str]] = field(default_factory=list)
    unexpected_exits: list[tuple[float, str, int]] = field(default_factory=list)
    _instances: dict[str, _Instance] = field(default_factory=dict)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.gather(*(self.remove(name) for name in list(self._instances)))

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Instance → its /metrics URL."""
        return {name: f"http://127.0.0.1:{i.port}/metrics" for name, i in self._instances.items()}

    def running(self, name: str) -> bool:
        """Whether the instance's current process is alive."""
        instance = self._instances.get(name)
        return bool(instance and instance.process and instance.process.returncode is None)

    async def start(self, name: str) -> None:
        """Start an instance and keep it running until `remove`."""
        instance = _Instance(name, free_ports(1)[0])
        self._instances[name] = instance
        await self._spawn(instance)
        instance.watcher = asyncio.create_task(self._watch(instance), name=f"supervise:{name}")

    def kill(self, name: str) -> None:
        """`kill -9` the instance's process (the supervisor restarts it)."""
        instance = self._instances[name]
        if instance.process is not None and instance.process.returncode is None:
            self.kills.append((time.monotonic(), name))
            with contextlib.suppress(ProcessLookupError):
                instance.process.send_signal(signal.SIGKILL)

    async def remove(self, name: str) -> None:
        """SIGTERM the instance and do not restart it (a scale-down); SIGKILL after the grace period."""
        instance = self._instances.get(name)
        if instance is None:
            return
        instance.wanted = False
        if instance.watcher is not None:
            instance.watcher.cancel()
            await asyncio.gather(instance.watcher, return_exceptions=True)
        process = instance.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                log.warning("%s did not stop in %.0f s; killing it", name, _STOP_GRACE_S)
                process.kill()
                await process.wait()

    async def _spawn(self, instance: _Instance) -> None:
        env = self.env | {"BRIDGE_METRICS__PORT": str(instance.port), PARENT_PID_ENV: str(os.getpid())}
        command = [sys.executable, "-m", "bridge", "--log-level", "WARNING", "run", role_of(instance.name)]
        with (self.workdir / f"{instance.name}.log").open("ab") as log_file:
            instance.process = await asyncio.create_subprocess_exec(
                *command, env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT, start_new_session=True
            )
        instance.incarnations += 1
        log.info("started %s (pid %d, incarnation %d)", instance.name, instance.process.pid, instance.incarnations)

    async def _watch(self, instance: _Instance) -> None:
        while instance.wanted:
            assert instance.process is not None  # noqa: S101 - spawned before the watch starts
            code = await instance.process.wait()
            if not instance.wanted:
                return
            if code != -signal.SIGKILL:
                # Not one of our kills: a role that ends by itself is a finding, restarted like any crash.
                self.unexpected_exits.append((time.monotonic(), instance.name, code))
                log.warning("%s exited with code %d; restarting it", instance.name, code)
            await asyncio.sleep(self.restart_delay_s)
            await self._spawn(instance)
            self.restarts.append((time.monotonic(), instance.name))
