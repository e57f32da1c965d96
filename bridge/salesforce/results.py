"""What a write returns: `SaveResult` per record with its `RecordError`s, and Composite subresponses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.salesforce.errors import DuplicatesDetected, SalesforceError, classify


def duplicate_match_ids(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The ids of the records a DUPLICATES_DETECTED error's `duplicateResult` names (empty when it has none)."""
    result = raw.get("duplicateResult")
    if not isinstance(result, Mapping):
        return ()
    ids: list[str] = []
    for match in result.get("matchResults") or ():
        for found in (match.get("matchRecords") or ()) if isinstance(match, Mapping) else ():
            record = found.get("record") if isinstance(found, Mapping) else None
            record_id = record.get("Id") if isinstance(record, Mapping) else None
            if record_id and str(record_id) not in ids:
                ids.append(str(record_id))
    return tuple(ids)


def with_matches(message: str, match_ids: tuple[str, ...]) -> str:
    """Salesforce's message, then the matching records' ids (so a dead letter's detail names them)."""
    return f"{message} (matching records: {', '.join(match_ids)})" if match_ids else message


@dataclass(frozen=True, slots=True)
class RecordError:
    """One error of one record (`statusCode`, `message`, `fields` in Salesforce's words).

    For DUPLICATES_DETECTED, `match_ids` are the matching records of the `duplicateResult`, and `message`
    ends with them, so that a dead letter's detail (which carries the message) says which records matched.
    """

    status_code: str
    message: str
    fields: tuple[str, ...] = ()
    match_ids: tuple[str, ...] = ()

    @property
    def exception_type(self) -> type[SalesforceError]:
        """The class this error maps to; its `retryable` says whether writing the record again can help."""
        return classify(self.status_code, self.message)

    def to_exception(self) -> SalesforceError:
        if self.exception_type is DuplicatesDetected:
            return DuplicatesDetected(self.status_code, self.message, self.fields, match_ids=self.match_ids)
        return self.exception_type(self.status_code, self.message, self.fields)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RecordError:
        code = raw.get("statusCode") or raw.get("errorCode") or "UNKNOWN"
        fields = tuple(str(f) for f in raw.get("fields") or ())
        matches = duplicate_match_ids(raw)
        return cls(str(code), with_matches(str(raw.get("message", "")), matches), fields, matches)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """The outcome of writing one record. `created` is False for updates (and unknown-as-False before API 46)."""

    id: str | None
    success: bool
    created: bool
    errors: tuple[RecordError, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], *, created: bool | None = None) -> SaveResult:
        errors = tuple(RecordError.from_json(e) for e in raw.get("errors") or ())
        was_created = bool(raw.get("created", False)) if created is None else created
        record_id = raw.get("id")
        return cls(str(record_id) if record_id else None, bool(raw.get("success", not errors)), was_created, errors)


@dataclass(frozen=True, slots=True)
class SubResponse:
    """One entry of a Composite `compositeResponse`."""

    reference_id: str
    http_status: int
    body: Any
    http_headers: Mapping[str, str]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SubResponse:
        return cls(
            str(raw.get("referenceId", "")),
            int(raw.get("httpStatusCode", 0)),
            raw.get("body"),
            dict(raw.get("httpHeaders") or {}),
        )
