"""What the size and path of a batch depend on besides the records: the API budget, and Apex CPU trouble.

budget = Budget.of(governor, settings.sink.bulk_budget_share)   # scarce: backlogs go as Bulk API jobs
sizer.shrink("Account", 200)                                    # a batch of 200 ran out of CPU time
paths.path_and_limit(Lane.BULK, "Account", 9_000, budget)      # (WritePath.BULK, 100_000): a job pays
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge.config import SinkSettings
from bridge.governor import Governor
from bridge.sink.items import BULK_JOB_CALLS, WritePath, is_platform_event
from bridge.types import Lane

BULK_JOB_MAX_RECORDS = 100_000  # one job's CSV stays far below the 100 MB upload limit at this size
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


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """Which API a group of pending records goes by, and how many records one batch of it may hold."""

    settings: SinkSettings
    sizer: BatchSizer

    def path_and_limit(self, lane: Lane, sobject: str, pending: int, budget: Budget) -> tuple[WritePath, int]:
        """Platform events go one publish call each; a bulk-lane group whose job pays goes as one Bulk API job;
        everything else by Collections at the SObject's current batch size."""
        if is_platform_event(sobject):
            return WritePath.EVENTS, 1
        size = self.sizer.size(sobject)
        if lane is Lane.BULK and self.sizer.is_full(sobject) and self.job_pays(pending, budget):
            return WritePath.BULK, BULK_JOB_MAX_RECORDS
        return WritePath.COLLECTIONS, size

    def min_job_records(self, pending: int, budget: Budget) -> int:
        """The smallest Bulk API job worth its calls: the threshold, or when calls are scarce or too few for
        Collections, as many records as the calls a job costs would carry on Collections."""
        if budget.scarce or self.too_dear(pending, budget):
            return min(self.settings.bulk_threshold_records, BULK_JOB_CALLS * self.settings.batch_size)
        return self.settings.bulk_threshold_records

    def job_pays(self, pending: int, budget: Budget) -> bool:
        """A Bulk API job for `pending` records: they reach the threshold; or calls are scarce (the group waits to
        grow into a job, and goes by Collections if it has not grown enough when the wait is over); or the budget
        would not carry them on Collections while one job would."""
        return pending >= self.settings.bulk_threshold_records or budget.scarce or self.too_dear(pending, budget)

    def too_dear(self, pending: int, budget: Budget) -> bool:
        """Collections would need more calls than the budget allows, and one job would carry the records."""
        collections_calls = math.ceil(pending / self.settings.batch_size)
        return collections_calls > budget.allowance_calls and pending >= BULK_JOB_CALLS * self.settings.batch_size
