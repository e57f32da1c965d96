"""What the size and path of a batch depend on besides the records: the API budget, and Apex CPU trouble.

budget = Budget.of(governor, settings.sink.bulk_budget_share)   # scarce: backlogs go as Bulk API jobs
sizer.shrink("Account", 200)                                    # a batch of 200 ran out of CPU time
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge.governor import Governor
from bridge.sink.items import BULK_JOB_CALLS
from bridge.types import Lane

SCARCE_MIN_CALLS = 16 * BULK_JOB_CALLS  # however small the org's limit, this many calls left are scarce


@dataclass(frozen=True, slots=True)
class Budget:
    """The bulk lane's API budget as the queue sees it: calls this worker may still spend, and whether they are
    scarce (then backlogs go as Bulk API jobs, ~1,000+ records a call, rather than Collections, 200)."""

    allowance_calls: float = math.inf
    scarce: bool = False

    @classmethod
    def of(cls, governor: Governor, bulk_budget_share: float) -> Budget:
        """This worker's bulk allowance, scarce below `bulk_budget_share` of its share of the bulk ceiling (0: the
        budget never chooses the path)."""
        if governor.daily_limit_calls is None or bulk_budget_share <= 0:
            return cls()
        ceiling = max(governor.ceiling_calls(Lane.BULK), 2 * SCARCE_MIN_CALLS)
        allowance = governor.allowance_calls(Lane.BULK)
        return cls(allowance, allowance < bulk_budget_share * governor.share * ceiling)


@dataclass(slots=True)
class BatchSizer:
    """Collections batch size per SObject: halved on Apex CPU errors, grown back by an eighth per success."""

    ceiling: int
    _sizes: dict[str, int] = field(default_factory=dict)

    def size(self, sobject: str) -> int:
        """The current batch size for `sobject`."""
        return self._sizes.get(sobject, self.ceiling)

    def shrink(self, sobject: str, failed_size: int) -> None:
        """A batch of `failed_size` ran out of CPU time."""
        self._sizes[sobject] = max(1, min(self.size(sobject), failed_size) // 2)

    def grow(self, sobject: str) -> None:
        """A batch succeeded."""
        size = self.size(sobject)
        if size < self.ceiling:
            self._sizes[sobject] = min(self.ceiling, size + max(1, size // 8))

    def is_full(self, sobject: str) -> bool:
        """No recent CPU trouble: batches (and Bulk jobs) may be as large as they come."""
        return self.size(sobject) >= self.ceiling
