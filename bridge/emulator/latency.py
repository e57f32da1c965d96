"""The latency model: what a request, each record and each millisecond of trigger CPU cost in wall time.

Defaults are realistic for a Salesforce org reached over the internet (`speed=1.0`); `speed=0` (the `Org`
default, for unit tests) turns all waiting off, and e.g. `speed=0.1` keeps the proportions ten times faster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LatencyModel:
    """Per request, per written record, and per ms of Apex CPU, all scaled by `speed`."""

    request_ms: float = 60.0
    per_record_ms: float = 1.5
    speed: float = 0.0

    def request_s(self, extra_ms: float = 0.0) -> float:
        """The wait for one request (plus injected latency, which is not scaled)."""
        return self.request_ms * self.speed / 1000 + extra_ms / 1000

    def write_s(self, records: int, cpu_ms: float) -> float:
        """The extra wait of a transaction that wrote `records` rows and spent `cpu_ms` in triggers."""
        return (records * self.per_record_ms + cpu_ms) * self.speed / 1000
