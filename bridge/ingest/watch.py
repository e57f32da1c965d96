"""Noticing that files changed, cheaply: their stat signatures, looked at no more often than an interval.

    watch = FileWatch([cert, key], interval_s=1.0)
    if watch.changed():      # True at most once per change, and never more often than every interval_s
        reload()

A Kubernetes Secret volume swaps a `..data` symlink when the Secret changes; `stat` follows the link, so the
new inode shows up. A file that cannot be stat'ed has the signature None (a change too, when it reappears).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Signature = tuple[int, int, int, int] | None


def signature(path: Path) -> Signature:
    """What identifies one version of a file: device, inode, size and modification time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FileWatch:
    """The stat signatures of some files, compared with those last seen on `changed()`."""

    def __init__(
        self, paths: Sequence[Path], *, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._paths = tuple(paths)
        self._interval_s = interval_s
        self._clock = clock
        self._seen = self._signatures()
        self._checked_at = clock()

    def __repr__(self) -> str:
        return f"FileWatch({[str(p) for p in self._paths]}, interval_s={self._interval_s})"

    def _signatures(self) -> tuple[Signature, ...]:
        return tuple(signature(path) for path in self._paths)

    def changed(self) -> bool:
        """True when a file changed since the last call that returned True (or since construction)."""
        now = self._clock()
        if now - self._checked_at < self._interval_s:
            return False
        self._checked_at = now
        current = self._signatures()
        if current == self._seen:
            return False
        self._seen = current
        return True
