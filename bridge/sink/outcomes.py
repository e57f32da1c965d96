"""What happened to one record in one call, and what the sink does about it. Pure: a lookup on error classes.

failure = Failure.from_error(RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"))
failure.kind is FailureKind.TRANSIENT      # retry with backoff
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.salesforce.errors import (
    ApexCpuLimit,
    ConcurrentRequestLimit,
    ParentNotFound,
    RequestLimitExceeded,
    RolledBack,
    SalesforceError,
    classify,
)
from bridge.salesforce.results import RecordError


class FailureKind(StrEnum):
    """The sink's decision for a failed record."""

    ROLLED_BACK = "rolled_back"  # innocent: another record failed the all-or-none batch; resend at once
    TRANSIENT = "transient"  # 5xx, network, lock, expired session: back off and retry
    PARENT_MISSING = "parent_missing"  # the referenced parent is not in Salesforce yet: wait, bounded
    CPU_LIMIT = "cpu_limit"  # Apex CPU time: resend in smaller batches
    LIMIT_EXCEEDED = "limit_exceeded"  # the daily API limit: pause everything until the window frees
    PERMANENT = "permanent"  # the data is wrong: dead-letter (once isolated)


_PARENT_CODES = frozenset({"INVALID_CROSS_REFERENCE_KEY"})


def kind_of(error_type: type[SalesforceError], error_code: str) -> FailureKind:
    """The decision for an error class (the order matters: subclasses first)."""
    if error_code in _PARENT_CODES or issubclass(error_type, ParentNotFound):
        return FailureKind.PARENT_MISSING
    if issubclass(error_type, RolledBack):
        return FailureKind.ROLLED_BACK
    if issubclass(error_type, ApexCpuLimit):
        return FailureKind.CPU_LIMIT
    if issubclass(error_type, ConcurrentRequestLimit):
        return FailureKind.TRANSIENT
    if issubclass(error_type, RequestLimitExceeded):
        return FailureKind.LIMIT_EXCEEDED
    return FailureKind.TRANSIENT if error_type.retryable else FailureKind.PERMANENT


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a record was not written, in Salesforce's words, and what to do."""

    kind: FailureKind
    error_code: str
    message: str
    fields: tuple[str, ...] = ()
    retry_after_s: float | None = None

    @classmethod
    def from_error(cls, error: RecordError) -> Failure:
        """A per-record error of a Collections call."""
        kind = kind_of(error.exception_type, error.status_code)
        return cls(kind, error.status_code, error.message, error.fields)

    @classmethod
    def from_exception(cls, exc: SalesforceError) -> Failure:
        """A failure of the whole call."""
        return cls(kind_of(type(exc), exc.error_code), exc.error_code, exc.message, exc.fields, exc.retry_after_s)

    @classmethod
    def from_bulk(cls, sf_error: str) -> Failure:
        """A Bulk API 2.0 `sf__Error` cell: `CODE:message:fields` (fields separated by `,`, `--` for none)."""
        code, _, rest = sf_error.partition(":")
        message, _, fields = rest.rpartition(":") if rest.count(":") >= 1 else (rest, "", "")
        field_names = tuple(f for f in fields.split(",") if f and f != "--")
        kind = kind_of(classify(code, message), code)
        return cls(kind, code, message or rest, field_names)


@dataclass(frozen=True, slots=True)
class Written:
    """Salesforce accepted the record."""

    sf_id: str | None
    created: bool
    deleted: bool = False  # a delete: Salesforce deleted it (`sf_id`), or it was not in the org (`sf_id` None)


Outcome = Written | Failure
