"""What the sink does with one record's outcome: deliver it (result or dead letter) or send it again later.

Pure, with time passed in. A retry of a transient failure counts against `max_attempts` and backs off with full
jitter (never sooner than Salesforce's `Retry-After`); a record whose parent is missing waits without using its
attempts, up to `parent_wait_s` since it first failed that way; rolled-back and CPU-limited records go back at
once (the latter in smaller batches); a limit error goes back after the window has had time to free.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config import SinkSettings, TopicSettings
from bridge.processing.routing import Outbound
from bridge.sink.backoff import Backoff
from bridge.sink.items import WriteItem
from bridge.sink.messages import (
    PARENT_DELETED,
    PARENT_NOT_FOUND,
    PARENT_REFUSED,
    failure_message,
    parent_refused_message,
    result_message,
)
from bridge.sink.outcomes import Failure, FailureKind, Outcome, Written
from bridge.sink.parents import ParentRefusal
from bridge.types import Outcome as Accounted

LIMIT_PAUSE_S = 60.0  # REQUEST_LIMIT_EXCEEDED without Retry-After: look again in a minute


@dataclass(frozen=True, slots=True)
class Deliver:
    """Produce `message`; once acknowledged, the record is accounted for as `accounted`."""

    item: WriteItem
    message: Outbound
    accounted: Accounted
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resend:
    """Put the record back; it may go again from `not_before_s` on."""

    item: WriteItem
    not_before_s: float
    reason: str


Decision = Deliver | Resend


@dataclass(slots=True)
class Decider:
    """The retry policy of the sink."""

    settings: SinkSettings
    topics: TopicSettings
    backoff: Backoff

    def decide(self, item: WriteItem, outcome: Outcome, now_s: float, batch_size: int) -> Decision:
        """The next step for `item` after `outcome` in a batch of `batch_size` records."""
        if isinstance(outcome, Written):
            return Deliver(item, result_message(item, outcome, self.topics), Accounted.WRITTEN)
        return self._failed(item, outcome, now_s, batch_size)

    def parent_refused(self, item: WriteItem, refusal: ParentRefusal) -> Deliver:
        """Dead-letter a child whose parent was refused, without a call."""
        message = parent_refused_message(item, refusal, self.topics)
        reason = PARENT_DELETED if refusal.reason == PARENT_DELETED else PARENT_REFUSED
        return Deliver(item, message, Accounted.DEAD_LETTERED, reason)

    def parent_nowhere(self, item: WriteItem) -> Deliver:
        """Dead-letter a child whose parent the CRM does not have and the bridge has not brought meanwhile."""
        message = (
            f"parent {item.route} is not in Salesforce, and nothing the source systems published before "
            "Salesforce said so brought it through the bridge"
        )
        return self._dead(
            item, Failure(FailureKind.PARENT_MISSING, "INVALID_CROSS_REFERENCE_KEY", message), PARENT_NOT_FOUND
        )

    def _failed(self, item: WriteItem, outcome: Failure, now_s: float, batch_size: int) -> Decision:
        kind = outcome.kind
        if kind is FailureKind.ROLLED_BACK or (kind is FailureKind.CPU_LIMIT and batch_size > 1):
            return Resend(item, now_s, kind.value)
        if kind is FailureKind.PARENT_MISSING:
            return self._parent_missing(item, outcome, now_s)
        if kind is FailureKind.LIMIT_EXCEEDED:
            return Resend(item, now_s + (outcome.retry_after_s or LIMIT_PAUSE_S), kind.value)
        if kind is FailureKind.PERMANENT:
            return self._dead(item, outcome, outcome.error_code)
        return self._transient(item, outcome, now_s)

    def _transient(self, item: WriteItem, failure: Failure, now_s: float) -> Decision:
        item.attempts += 1
        if item.attempts >= self.settings.max_attempts:
            return self._dead(item, failure, failure.error_code)
        delay_s = self.backoff.delay_s(item.attempts, failure.retry_after_s or 0.0)
        return Resend(item, now_s + delay_s, failure.kind.value)

    def _parent_missing(self, item: WriteItem, failure: Failure, now_s: float) -> Decision:
        if item.parent_wait_since_s is None:
            item.parent_wait_since_s = now_s
        if now_s - item.parent_wait_since_s >= self.settings.parent_wait_s:
            return self._dead(item, failure, PARENT_NOT_FOUND)
        item.parent_waits += 1
        return Resend(item, now_s + self.backoff.delay_s(item.parent_waits), failure.kind.value)

    def _dead(self, item: WriteItem, failure: Failure, reason: str) -> Deliver:
        message = failure_message(item, failure, self.topics, reason=reason)
        return Deliver(item, message, Accounted.DEAD_LETTERED, reason)
