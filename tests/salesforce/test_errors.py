"""The mapping from Salesforce's error codes, messages and statuses to exception classes that say what helps."""

from __future__ import annotations

import httpx
import pytest

from bridge.errors import BridgeError
from bridge.salesforce import errors as e
from bridge.salesforce.responses import error_from_response

CPU = "OppTrigger: execution of AfterInsert\n\ncaused by: System.LimitException: Apex CPU time limit exceeded"


@pytest.mark.parametrize(
    ("code", "message", "kind", "retryable"),
    [
        ("INVALID_SESSION_ID", "Session expired or invalid", e.SessionExpired, True),
        ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", e.RequestLimitExceeded, False),
        ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", e.ConcurrentRequestLimit, True),
        ("SERVER_UNAVAILABLE", "Server Unavailable", e.ServerUnavailable, True),
        (
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: 0035",
            e.RecordLocked,
            True,
        ),
        ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", CPU, e.ApexCpuLimit, True),
        (
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
            "T: caused by: unable to obtain exclusive access",
            e.RecordLocked,
            True,
        ),
        ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "T: maximum trigger depth exceeded", e.InvalidRequest, False),
        (
            "INVALID_FIELD",
            "Foreign key external ID: A-1 not found for field Ext__c in entity Account",
            e.ParentNotFound,
            True,
        ),
        (
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid",
            e.RolledBack,
            True,
        ),
        ("PROCESSING_HALTED", "The transaction was rolled back", e.RolledBack, True),
        ("MALFORMED_QUERY", "unexpected token: FORM", e.InvalidRequest, False),
        ("INVALID_FIELD", "No such column 'foo' on sobject of type Account", e.InvalidRequest, False),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Close date must be in the future", e.InvalidRequest, False),
        ("DUPLICATES_DETECTED", "Use one of these records?", e.DuplicatesDetected, False),
        ("NOT_FOUND", "The requested resource does not exist", e.NotFound, False),
        ("DUPLICATE_EXTERNAL_ID", "More than 1 record found for external id field", e.MultipleMatches, False),
        ("ENTITY_IS_DELETED", "entity is deleted", e.NotFound, False),
        ("invalid_grant", "authentication failure", e.AuthenticationFailed, False),
    ],
)
def test_classify_maps_codes_and_messages(
    code: str, message: str, kind: type[e.SalesforceError], retryable: bool
) -> None:
    assert e.classify(code, message) is kind
    assert kind.retryable is retryable
    assert issubclass(kind, BridgeError)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            401,
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            e.SessionExpired,
            "INVALID_SESSION_ID",
        ),
        (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            e.RequestLimitExceeded,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            403,
            [{"message": "Insufficient access", "errorCode": "INSUFFICIENT_ACCESS"}],
            e.InvalidRequest,
            "INSUFFICIENT_ACCESS",
        ),
        (404, {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}, e.NotFound, "NOT_FOUND"),
        (
            400,
            {"message": "Json Deserialization failed", "errorCode": "INVALID_FIELD"},
            e.InvalidRequest,
            "INVALID_FIELD",
        ),
        (
            300,
            ["/services/data/v62.0/sobjects/Account/001A", "/services/data/v62.0/sobjects/Account/001B"],
            e.MultipleMatches,
            "MULTIPLE_CHOICES",
        ),
        (503, None, e.ServerUnavailable, "HTTP_503"),
        (429, None, e.ServerUnavailable, "HTTP_429"),
        (404, None, e.NotFound, "HTTP_404"),
        (
            500,
            [{"message": "An unexpected error occurred", "errorCode": "UNKNOWN_EXCEPTION"}],
            e.ServerUnavailable,
            "UNKNOWN_EXCEPTION",
        ),
        (
            400,
            [{"message": "unable to obtain exclusive access", "errorCode": "UNABLE_TO_LOCK_ROW"}],
            e.RecordLocked,
            "UNABLE_TO_LOCK_ROW",
        ),
        (
            400,
            {"error": "invalid_grant", "error_description": "audience is invalid"},
            e.AuthenticationFailed,
            "invalid_grant",
        ),
    ],
)
def test_error_from_response_maps_whole_request_errors(
    status: int, body: object, kind: type[e.SalesforceError], code: str
) -> None:
    response = (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>down</html>")
    )
    error = error_from_response(response)
    assert type(error) is kind
    assert error.error_code == code
    assert error.status == status


def test_error_keeps_fields_and_message() -> None:
    body = [
        {"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}
    ]
    error = error_from_response(httpx.Response(400, json=body))
    assert error.fields == ("Name",)
    assert error.message == "Required fields are missing: [Name]"
    assert str(error) == "REQUIRED_FIELD_MISSING: Required fields are missing: [Name]"


def test_limit_errors_carry_a_wait() -> None:
    daily = error_from_response(
        httpx.Response(403, json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    )
    assert daily.retry_after_s is not None
    assert daily.retry_after_s > 0
    told = error_from_response(
        httpx.Response(503, headers={"Retry-After": "7"}, json=[{"message": "x", "errorCode": "SERVER_UNAVAILABLE"}])
    )
    assert told.retry_after_s == 7.0


def test_transport_error_says_whether_the_request_may_have_been_applied() -> None:
    sent = e.TransportError("PATCH /x: ReadTimeout", maybe_applied=True)
    assert sent.retryable
    assert sent.maybe_applied
    assert not e.TransportError("ConnectError", maybe_applied=False).maybe_applied
