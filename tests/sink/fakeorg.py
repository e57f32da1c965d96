"""An in-memory org that answers like Salesforce, for sink tests that do not need HTTP.

It keeps records by (SObject, external ID), counts API calls in a daily budget and reports usage through
`on_limit_info`, applies all-or-none Collections upserts (a failing record names its error, the others come
back ALL_OR_NONE_OPERATION_ROLLED_BACK), checks parent references by external ID, runs out of Apex CPU above
`cpu_max_records` per call, refuses records named `BAD` with a validation error, and plays scheduled faults.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.salesforce import LimitInfo, RecordError, SaveResult
from bridge.salesforce.bulk import BulkResult
from bridge.salesforce.errors import RequestLimitExceeded, ServerUnavailable, TransportError

_ROLLED_BACK = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid")
_CPU = RecordError(
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "AccountTrigger: System.LimitException: Apex CPU time limit exceeded"
)


@dataclass
class FakeOrg:
    """The fake; `faults` is consumed one per call: "503", "drop_after_apply", "lock", "limit" or None."""

    limit: int = 1_000_000
    used: int = 0
    cpu_max_records: int = 200
    latency_s: float = 0.0
    faults: list[str | None] = field(default_factory=list)
    on_limit_info: Callable[[LimitInfo], None] | None = None
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # every record sent, written or not
    calls: Counter[str] = field(default_factory=Counter)
    batch_sizes: list[int] = field(default_factory=list)
    limit_errors: int = 0
    call_times: list[float] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def spend(self, calls: int = 1) -> None:
        """Another integration spends `calls` of the same budget."""
        self.used += calls

    def _count(self, kind: str) -> None:
        if self.used >= self.limit:
            self.limit_errors += 1
            raise RequestLimitExceeded("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403)
        self.used += 1
        self.calls[kind] += 1
        self.call_times.append(asyncio.get_running_loop().time())
        if self.on_limit_info is not None:
            self.on_limit_info(LimitInfo(self.used, self.limit))

    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], all_or_none: bool
    ) -> list[SaveResult]:
        assert all_or_none
        await asyncio.sleep(self.latency_s)
        self._count("collections")
        self.batch_sizes.append(len(records))
        self.sent.update((sobject, str(record[external_id_field])) for record in records)
        fault = self.faults.pop(0) if self.faults else None
        if fault == "503":
            raise ServerUnavailable("SERVER_UNAVAILABLE", "maintenance", status=503)
        if fault == "limit":
            self.limit_errors += 1
            raise RequestLimitExceeded(
                "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403, retry_after_s=1.0
            )
        errors = self._errors(sobject, records, lock=fault == "lock")
        if any(errors):
            return [SaveResult(None, False, False, (error or _ROLLED_BACK,)) for error in errors]
        results = [self._apply(sobject, external_id_field, record) for record in records]
        if fault == "drop_after_apply":
            raise TransportError("connection dropped after the request was sent", maybe_applied=True)
        return results

    def _errors(self, sobject: str, records: Sequence[Mapping[str, Any]], *, lock: bool) -> list[RecordError | None]:
        errors: list[RecordError | None] = [self._record_error(sobject, record) for record in records]
        if lock and records:
            errors[0] = RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
        if len(records) > self.cpu_max_records:
            errors[0] = _CPU
        return errors

    def _record_error(self, sobject: str, record: Mapping[str, Any]) -> RecordError | None:
        if record.get("Name") == "BAD":
            return RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Name may not be BAD", ("Name",))
        for name, value in record.items():
            if isinstance(value, Mapping):
                ((ext_field, ext_value),) = value.items()
                if (name, str(ext_value)) not in self.records:
                    message = f"Foreign key external ID: {ext_value} not found for field {ext_field} in entity {name}"
                    return RecordError("INVALID_FIELD", message, (name,))
        return None

    def _apply(self, sobject: str, external_id_field: str, record: Mapping[str, Any]) -> SaveResult:
        key = (sobject, str(record[external_id_field]))
        created = key not in self.records
        stored = self.records.setdefault(key, {"Id": f"001{len(self.records):015d}"})
        stored.update(record)
        self.writes[key] += 1
        return SaveResult(stored["Id"], True, created)

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> SaveResult:
        self._count("create")
        self.events.append((sobject, dict(fields)))
        return SaveResult(f"e00{len(self.events):015d}", True, True)

    async def bulk_upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        poll_interval_s: float = 1.0,
        max_poll_interval_s: float = 30.0,
    ) -> BulkResult:
        assert 0 < poll_interval_s <= max_poll_interval_s
        for _ in range(5):
            self._count("bulk")
        result = BulkResult(job_id="750000000000001", state="JobComplete")
        for record in records:
            error = self._record_error(sobject, record)
            if error is not None:
                result.failed.append((record, f"{error.status_code}:{error.message}:{','.join(error.fields) or '--'}"))
                continue
            saved = self._apply(sobject, external_id_field, record)
            result.successful.append((record, saved.id or "", saved.created))
        return result
