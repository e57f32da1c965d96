"""Salesforce errors mapped at the boundary into a tree under `BridgeError` that says whether a retry helps.

The same `classify(error_code, message)` decides for a whole request (`[{"errorCode", "message", "fields"}]`)
and for one record of a Collections result (`{"statusCode", "message", "fields"}`):

    kind = classify("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
    assert kind is RecordLocked and kind.retryable
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from bridge.errors import BridgeError


class SalesforceError(BridgeError):
    """An answer from Salesforce (or the lack of one) that is not a success."""

    default_retry_after_s: ClassVar[float | None] = None

    def __init__(
        self,
        error_code: str,
        message: str,
        fields: Sequence[str] = (),
        status: int | None = None,
        *,
        retry_after_s: float | None = None,
    ) -> None:
        wait_s = retry_after_s if retry_after_s is not None else self.default_retry_after_s
        super().__init__(f"{error_code}: {message}", retry_after_s=wait_s)
        self.error_code = error_code
        self.message = message  # Salesforce's own words; str(error) is "CODE: message"
        self.fields = tuple(fields)
        self.status = status

    def __repr__(self) -> str:
        fields = f"fields={self.fields!r}, status={self.status}"
        return f"{type(self).__name__}({self.error_code!r}, {self.message!r}, {fields})"


class SessionExpired(SalesforceError):
    """INVALID_SESSION_ID: the access token expired or was revoked; a new session helps."""

    retryable = True


class AuthenticationFailed(SalesforceError):
    """The token endpoint refused the credentials (`invalid_grant`, `invalid_client_id`, ...)."""


class RequestLimitExceeded(SalesforceError):
    """REQUEST_LIMIT_EXCEEDED: the org's rolling 24-hour API allocation is spent. Wait, do not retry now."""

    default_retry_after_s = 60.0


class ConcurrentRequestLimit(RequestLimitExceeded):
    """REQUEST_LIMIT_EXCEEDED for too many concurrent long-running requests: a short wait helps."""

    retryable = True
    default_retry_after_s = 5.0


class ServerUnavailable(SalesforceError):
    """5xx or SERVER_UNAVAILABLE: maintenance or overload on Salesforce's side."""

    retryable = True


class TransportError(SalesforceError):
    """No usable answer (connection refused or dropped, timeout). `maybe_applied` when the request was sent."""

    retryable = True

    def __init__(self, message: str, *, maybe_applied: bool) -> None:
        super().__init__("TRANSPORT_ERROR", message)
        self.maybe_applied = maybe_applied


class RecordLocked(SalesforceError):
    """UNABLE_TO_LOCK_ROW: another transaction holds the row; retry with backoff."""

    retryable = True


class ApexCpuLimit(SalesforceError):
    """A trigger ran out of Apex CPU time; retrying with smaller batches helps."""

    retryable = True


class ParentNotFound(SalesforceError):
    """A relationship's external ID matches no parent record yet; retry once the parent is written."""

    retryable = True


class RolledBack(SalesforceError):
    """The record was fine but rolled back because another one in the all-or-none batch failed."""

    retryable = True


class InvalidRequest(SalesforceError):
    """A permanent refusal: malformed query, unknown field, validation rule, duplicate, ... Fix the data."""


class NotFound(InvalidRequest):
    """NOT_FOUND / ENTITY_IS_DELETED: the resource or record does not exist."""


class DuplicatesDetected(InvalidRequest):
    """DUPLICATES_DETECTED: an active duplicate rule matched other records (`match_ids`); fix the data, merge,
    or (for an alert rule) send `Sforce-Duplicate-Rule-Header: allowSave=true`."""

    def __init__(
        self,
        error_code: str,
        message: str,
        fields: Sequence[str] = (),
        status: int | None = None,
        *,
        retry_after_s: float | None = None,
        match_ids: Sequence[str] = (),
    ) -> None:
        super().__init__(error_code, message, fields, status, retry_after_s=retry_after_s)
        self.match_ids = tuple(match_ids)


class ExternalIdNotInPath(InvalidRequest):
    """The external id cannot travel in a REST URL path (a `/`, dot segments, a format suffix, ...).

    Raised before any request; write such records with sObject Collections, where the value is in the body.
    """

    def __init__(self, value: str, problem: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        message = (
            f"external ID {shown!r} cannot be used in a REST URL path: {problem}; upsert it with sObject "
            "Collections (upsert_collection carries the value in the JSON body) or find the record with a query"
        )
        super().__init__("EXTERNAL_ID_NOT_IN_PATH", message)
        self.value = value


class MultipleMatches(InvalidRequest):
    """HTTP 300 on upsert: the external ID matches more than one record; nothing was written."""


_BY_CODE: dict[str, type[SalesforceError]] = {
    "INVALID_SESSION_ID": SessionExpired,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceeded,
    "SERVER_UNAVAILABLE": ServerUnavailable,
    "UNABLE_TO_LOCK_ROW": RecordLocked,
    "DUPLICATE_EXTERNAL_ID": MultipleMatches,  # per-record form of the 300 answer
    "NOT_FOUND": NotFound,
    "ENTITY_IS_DELETED": NotFound,
    "DUPLICATES_DETECTED": DuplicatesDetected,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": RolledBack,
    "PROCESSING_HALTED": RolledBack,
    "invalid_grant": AuthenticationFailed,
    "invalid_client_id": AuthenticationFailed,
    "invalid_client": AuthenticationFailed,
    "unsupported_grant_type": AuthenticationFailed,
}

# Triggers wrap their failures in CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY; the cause is only in the message.
_BY_MESSAGE: tuple[tuple[str, type[SalesforceError]], ...] = (
    ("apex cpu time limit exceeded", ApexCpuLimit),
    ("unable to obtain exclusive access", RecordLocked),
    ("concurrentperorglongtxn", ConcurrentRequestLimit),
    ("foreign key external id", ParentNotFound),
)


def classify(error_code: str, message: str) -> type[SalesforceError]:
    """The exception class for a Salesforce `errorCode` (or per-record `statusCode`) and its message."""
    lowered = message.lower()
    for needle, kind in _BY_MESSAGE:
        if needle in lowered:
            return kind
    return _BY_CODE.get(error_code, InvalidRequest)


def classify_status(status: int, error_code: str, message: str) -> type[SalesforceError]:
    """Like `classify`, falling back on the HTTP status when the code alone says nothing specific."""
    kind = classify(error_code, message)
    if kind is not InvalidRequest:
        return kind
    if status == 300:
        return MultipleMatches
    if status == 401:
        return SessionExpired
    if status == 404:
        return NotFound
    if status in (420, 429) or status >= 500:
        return ServerUnavailable
    return InvalidRequest


class BulkJobTimeout(SalesforceError):
    """A Bulk API 2.0 job did not finish within `max_wait_s`; it was aborted, its records can be sent again."""

    retryable = True
