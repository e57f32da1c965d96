"""What a write returns: `SaveResult` per record with its `RecordError`s, and Composite subresponses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.salesforce.errors import SalesforceError, classify


@dataclass(frozen=True, slots=True)
class RecordError:
    """One error of one record (`statusCode`, `message`, `fields` in Salesforce's words)."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    @property
    def exception_type(self) -> type[SalesforceError]:
        """The class this error maps to; its `retryable` says whether writing the record again can help."""
        return classify(self.status_code, self.message)

    def to_exception(self) -> SalesforceError:
        return self.exception_type(self.status_code, self.message, self.fields)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RecordError:
        code = raw.get("statusCode") or raw.get("errorCode") or "UNKNOWN"
        return cls(str(code), str(raw.get("message", "")), tuple(str(f) for f in raw.get("fields") or ()))


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
