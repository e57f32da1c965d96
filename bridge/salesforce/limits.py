"""The org's API usage as Salesforce reports it on every response: `Sforce-Limit-Info: api-usage=N/M`."""

from __future__ import annotations

import re
from typing import NamedTuple

_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


class LimitInfo(NamedTuple):
    """Calls used in the rolling 24 hours, org-wide (all integrations), and the org's allocation."""

    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @classmethod
    def parse(cls, header: str | None) -> LimitInfo | None:
        """Read `api-usage=18/5000` out of the header, ignoring other entries (`per-app-api-usage`, `api-bursts`).

        >>> LimitInfo.parse("api-usage=18/5000; per-app-api-usage=17/250(appName=app)")
        LimitInfo(used=18, limit=5000)
        """
        if not header:
            return None
        match = _API_USAGE.search(header)
        if match is None:
            return None
        return cls(used=int(match.group(1)), limit=int(match.group(2)))
