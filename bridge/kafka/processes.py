"""Processes of the local deployment: free ports, ending with a parent, and stopping a PID for good.

ports = free_ports(2)
end_with_parent_if_asked()      # in a `crm-bridge` process started by the demo (PARENT_PID_ENV)
stop_pid(pid)                   # SIGTERM, a grace, then SIGKILL
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 15.0


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all bound at once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def die_with_parent() -> None:
    """A `preexec_fn`: the child gets its own session and is SIGKILLed when its parent thread dies."""
    os.setsid()
    _set_parent_death_signal(signal.SIGKILL)


PARENT_PID_ENV = "CRM_BRIDGE_PARENT_PID"
"""Set by a parent that starts `crm-bridge` processes; each one then ends when that parent does."""


def _set_parent_death_signal(signum: int) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signum)


def end_with_parent_if_asked() -> None:
    """In a process started with `PARENT_PID_ENV`: SIGTERM when that parent dies (and now, if it already has).

    Done by the child itself at start-up rather than in a `preexec_fn`: running Python between fork and exec is
    unsafe in a parent with threads (gRPC's, Kafka clients'), and cost the demo a crashed role once.
    """
    expected = os.environ.get(PARENT_PID_ENV)
    if not expected:
        return
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(expected):  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def detach() -> None:
    """A `preexec_fn`: the child gets its own session (it outlives a Ctrl-C of its parent's group)."""
    os.setsid()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    return True


def stop_pid(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait up to `grace_s`, then SIGKILL; a PID that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if grace_s <= 0 else signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reap(pid)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
