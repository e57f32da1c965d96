"""`crm-bridge run all`: every role as its own child process, started together and stopped together.

faust's Worker owns its event loop and signals, so the processor cannot share a loop with the other roles; one
process per role also keeps a crash in one role from corrupting another's state. Each child serves `/metrics` on
`metrics.port + i` (i = the role's index), so Prometheus scrapes each role on its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.kafka.processes import PARENT_PID_ENV

log = logging.getLogger(__name__)

_STOP_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class Child:
    """One role's process: what it runs and on which metrics port."""

    role: str
    argv: tuple[str, ...]
    metrics_port: int


def plan(roles: Sequence[str], base_port: int, extra_args: Sequence[str] = ()) -> list[Child]:
    """The children for `roles`: `crm-bridge run <role>` each, metrics on consecutive ports from `base_port`."""
    return [
        Child(role, (sys.executable, "-m", "bridge", "run", role, *extra_args), base_port + index)
        for index, role in enumerate(roles)
    ]


async def supervise(children: Sequence[Child], stop: asyncio.Event, env: Mapping[str, str] | None = None) -> int:
    """Run the children until `stop` is set or one exits; then SIGTERM the rest.

    Returns the exit code of the role that ended on its own (1 if it said 0), else 0 when every role stopped cleanly.
    """
    base_env = dict(os.environ if env is None else env)
    processes: dict[str, asyncio.subprocess.Process] = {}
    for child in children:
        child_env = {**base_env, "BRIDGE_METRICS__PORT": str(child.metrics_port)}
        # A child ends with the supervisor (it arms PR_SET_PDEATHSIG itself): a killed `run all` leaves no role.
        child_env[PARENT_PID_ENV] = str(os.getpid())
        processes[child.role] = await asyncio.create_subprocess_exec(*child.argv, env=child_env)
        log.info(
            "started role %s (pid %d, metrics on port %d)", child.role, processes[child.role].pid, child.metrics_port
        )
    waits = {asyncio.create_task(p.wait(), name=f"wait:{role}"): role for role, p in processes.items()}
    stopper = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [(waits[task], task.result()) for task in done if task in waits]
    for role, code in failed:
        log.error("role %s exited with code %s; stopping the others", role, code)
    await _terminate(processes.values())
    stopper.cancel()
    if failed:  # a role ended on its own: that is the failure, whatever its code (roles run until stopped)
        return abs(failed[0][1]) or 1
    codes = [p.returncode or 0 for p in processes.values()]
    return max((abs(c) for c in codes if c not in (0, -signal.SIGTERM)), default=0)


async def _terminate(processes: Iterable[asyncio.subprocess.Process]) -> None:
    running = [p for p in processes if p.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
        except TimeoutError:
            log.warning("pid %d did not stop in %.0f s; killing it", process.pid, _STOP_GRACE_S)
            process.kill()
            await process.wait()
