"""Failure kinds from Salesforce's words: a lookup on the client's error classes."""

import pytest

from bridge.salesforce import RecordError
from bridge.salesforce.errors import ConcurrentRequestLimit, RequestLimitExceeded, ServerUnavailable, TransportError
from bridge.sink.outcomes import Failure, FailureKind


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", FailureKind.TRANSIENT),
        (
            "INVALID_FIELD",
            "Foreign key external ID: A-1 not found for field X in entity Account",
            FailureKind.PARENT_MISSING,
        ),
        ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", FailureKind.PARENT_MISSING),
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "rolled back", FailureKind.ROLLED_BACK),
        ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "Trigger: Apex CPU time limit exceeded", FailureKind.CPU_LIMIT),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Name is bad", FailureKind.PERMANENT),
        ("DUPLICATE_VALUE", "duplicate value found", FailureKind.PERMANENT),
    ],
)
def test_record_errors(code: str, message: str, kind: FailureKind) -> None:
    assert Failure.from_error(RecordError(code, message)).kind is kind


def test_call_errors() -> None:
    assert Failure.from_exception(ServerUnavailable("SERVER_UNAVAILABLE", "x")).kind is FailureKind.TRANSIENT
    assert Failure.from_exception(TransportError("dropped", maybe_applied=True)).kind is FailureKind.TRANSIENT
    assert Failure.from_exception(ConcurrentRequestLimit("REQUEST_LIMIT_EXCEEDED", "x")).kind is FailureKind.TRANSIENT
    limit = Failure.from_exception(RequestLimitExceeded("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    assert limit.kind is FailureKind.LIMIT_EXCEEDED
    assert limit.retry_after_s == 60.0


def test_bulk_error_cells() -> None:
    failure = Failure.from_bulk("FIELD_CUSTOM_VALIDATION_EXCEPTION:Employees must be positive:NumberOfEmployees")
    assert (failure.kind, failure.error_code, failure.fields) == (
        FailureKind.PERMANENT,
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        ("NumberOfEmployees",),
    )
    assert failure.message == "Employees must be positive"
    lock = Failure.from_bulk("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--")
    assert lock.kind is FailureKind.TRANSIENT
    assert lock.fields == ()
