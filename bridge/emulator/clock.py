"""The emulator's clock: wall time plus an offset that tests move forward (`advance`) to cross time windows."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime


class EmulatorClock:
    """Seconds since the epoch; `advance(s)` shifts it. Pass `source` for a frozen or scripted time."""

    def __init__(self, source: Callable[[], float] = time.time, *, offset_s: float = 0.0) -> None:
        self._source = source
        self.offset_s = offset_s

    def __call__(self) -> float:
        return self._source() + self.offset_s

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        self.offset_s += seconds

    def iso(self) -> str:
        """Now in Salesforce's date-time form: `2024-05-01T12:00:00.000+0000`."""
        return format_datetime(self())

    def __repr__(self) -> str:
        return f"EmulatorClock(now={self.iso()}, offset_s={self.offset_s})"


def format_datetime(epoch_s: float) -> str:
    """Epoch seconds in Salesforce's date-time form."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@functools.lru_cache(maxsize=1024)
def parse_datetime_ms(text: str) -> int:
    """A Salesforce date-time string as epoch milliseconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    return int(moment.timestamp() * 1000)
