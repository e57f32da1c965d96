"""Reading Salesforce's answers: the JSON of a success, and the exception a failure maps to."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.salesforce.errors import (
    DuplicatesDetected,
    MultipleMatches,
    SalesforceError,
    ServerUnavailable,
    classify_status,
)
from bridge.salesforce.results import duplicate_match_ids, with_matches


def error_from_response(response: httpx.Response) -> SalesforceError:
    """The exception for a non-2xx answer: REST error array, single error object, 300 list, or no JSON."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if status == 300:
        matches = [str(url) for url in body] if isinstance(body, list) else []
        return MultipleMatches("MULTIPLE_CHOICES", f"external ID matches {len(matches)} records: {matches}", (), 300)
    entry = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else body
    entry = entry if isinstance(entry, dict) else {}
    code = str(entry.get("errorCode") or entry.get("error") or f"HTTP_{status}")
    message = str(entry.get("message") or entry.get("error_description") or response.reason_phrase)
    fields = tuple(str(f) for f in entry.get("fields") or ())
    kind = classify_status(status, code, message)
    if kind is DuplicatesDetected:
        found = duplicate_match_ids(entry)
        message = with_matches(message, found)
        return DuplicatesDetected(
            code, message, fields, status, retry_after_s=_retry_after_s(response), match_ids=found
        )
    return kind(code, message, fields, status, retry_after_s=_retry_after_s(response))


def _retry_after_s(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def json_body(response: httpx.Response) -> Any:
    """The JSON of a success answer; a proxy's HTML page in its place is `ServerUnavailable`, not a crash."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise ServerUnavailable("INVALID_RESPONSE", f"HTTP {response.status_code} answered {kind}, not JSON") from None
