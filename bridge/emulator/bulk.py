"""Bulk API 2.0 ingest jobs for the emulator: the job state machine, CSV in (typed by describe) and results CSV out.

Pure: no I/O and no clock of its own. `routes_bulk` drives a job through the org's write path in chunks of
`CHUNK_RECORDS` and records each chunk's outcomes here.

    job = IngestJob.create(body, job_id="750...", user_id="005...", api_version="60.0", now=clock(), fields=...)
    job.upload(csv_bytes)
    job.set_state("UploadComplete")
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from bridge.errors import BridgeError

CHUNK_RECORDS = 200
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
NULL_VALUE = "#N/A"
OPERATIONS = frozenset({"insert", "update", "upsert", "delete", "hardDelete"})
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})


class BulkError(BridgeError):
    """A Bulk API 2.0 request refused: `error_code` and the HTTP `status` it is answered with."""

    def __init__(self, error_code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status

    def as_body(self) -> list[dict[str, str]]:
        """The error array the API answers with."""
        return [{"errorCode": self.error_code, "message": self.message}]


def format_time(moment: datetime) -> str:
    """Salesforce's timestamp form: `2024-01-03T23:52:01.000+0000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def sf_error(code: str, message: str, fields: Sequence[str] = ()) -> str:
    """The `sf__Error` column: `CODE:message:fields --` (fields comma-separated, possibly empty)."""
    return f"{code}:{message}:{','.join(fields)} --" if fields else f"{code}:{message}:--"


@dataclass
class Chunk:
    """Up to `CHUNK_RECORDS` rows of one job: the original CSV values and the records typed for the write path."""

    rows: list[list[str]]
    records: list[dict[str, Any]]


def _typed(value: str, describe_field: Mapping[str, Any] | None) -> Any:
    """A CSV string converted by field type; `#N/A` is null. Unparseable values pass through for the org to refuse."""
    if value == NULL_VALUE:
        return None
    kind = describe_field.get("type") if describe_field else None
    if kind == "boolean" and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if kind in _NUMBER_TYPES:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if kind == "int" and number.is_integer() else number
    return value


@dataclass
class IngestJob:
    """One ingest job and everything the API reports about it."""

    id: str
    object: str
    operation: str
    created_by_id: str
    created_date: datetime
    api_version: str
    fields: Mapping[str, Mapping[str, Any]]
    external_id_field: str | None = None
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    state: str = "Open"
    system_modstamp: datetime | None = None
    error_message: str | None = None
    uploads: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    processed: int = 0
    retries: int = 0
    processing_ms: float = 0.0
    apex_ms: float = 0.0

    _STATE_CHANGES: ClassVar[dict[str, frozenset[str]]] = {
        "Open": frozenset({"UploadComplete", "Aborted"}),
        "UploadComplete": frozenset({"Aborted"}),
        "InProgress": frozenset({"Aborted"}),
    }

    @classmethod
    def create(
        cls,
        body: Mapping[str, Any],
        *,
        job_id: str,
        user_id: str,
        api_version: str,
        now: datetime,
        describe: Mapping[str, Any] | None,
    ) -> IngestJob:
        """A new Open job from the create request's JSON; `describe` is the object's (None when unknown)."""
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise BulkError("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if describe is None:
            raise BulkError("INVALIDJOB", f"Unable to find object: {body.get('object')}")
        fields = {str(f["name"]).lower(): f for f in describe.get("fields", [])}
        external_id = _external_id_field(body, operation, fields)
        options = {
            "line_ending": body.get("lineEnding", "LF"),
            "column_delimiter": body.get("columnDelimiter", "COMMA"),
        }
        if options["line_ending"] not in LINE_ENDINGS or options["column_delimiter"] not in DELIMITERS:
            raise BulkError("INVALIDJOB", "InvalidJob : lineEnding must be LF or CRLF and columnDelimiter a known name")
        if body.get("contentType", "CSV") != "CSV":
            raise BulkError("INVALIDJOB", "InvalidJob : contentType must be CSV")
        sobject = str(describe["name"])
        return cls(job_id, sobject, operation, user_id, now, api_version, fields, external_id, **options)

    def info(self, *, full: bool = True) -> dict[str, Any]:
        """The job info JSON (`full` adds the processing counters that Get Job Info reports)."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by_id,
            "createdDate": format_time(self.created_date),
            "systemModstamp": format_time(self.system_modstamp or self.created_date),
            "state": self.state,
            "externalIdFieldName": self.external_id_field,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.external_id_field is None:
            del out["externalIdFieldName"]
        if full:
            out |= {
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": len(self.failed),
                "retries": self.retries,
                "totalProcessingTime": int(self.processing_ms),
                "apiActiveProcessingTime": int(self.processing_ms),
                "apexProcessingTime": int(self.apex_ms),
            }
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out

    def upload(self, data: bytes, *, now: datetime) -> None:
        """Take one CSV upload (PUT .../batches); only an Open job takes data."""
        if self.state != "Open":
            raise BulkError("INVALIDJOBSTATE", f"Job state must be Open to upload data; it is {self.state}", status=409)
        if len(data) + sum(len(u) for u in self.uploads) > MAX_UPLOAD_BYTES:
            raise BulkError("CLIENTINPUTERROR", "Job data exceeds the maximum size of 100 MB", status=413)
        self.uploads.append(data)
        self.system_modstamp = now

    def set_state(self, state: Any, *, now: datetime) -> None:
        """PATCH the job: `UploadComplete` closes an Open job, `Aborted` stops a job that has not finished."""
        allowed = self._STATE_CHANGES.get(self.state, frozenset())
        if state not in allowed:
            raise BulkError("INVALIDJOBSTATE", f"Invalid state transition from {self.state} to {state}")
        if state == "Aborted":
            self.unprocessed.extend(self._remaining())
        self.state = str(state)
        self.system_modstamp = now

    def deletable(self) -> None:
        """Raise unless the job may be deleted (UploadComplete or finished, as documented)."""
        if self.state not in TERMINAL | {"UploadComplete"}:
            raise BulkError(
                "INVALIDJOBSTATE",
                f"Job state must be UploadComplete, JobComplete, Aborted or Failed to delete; it is {self.state}",
            )

    def _remaining(self) -> list[list[str]]:
        if self.state not in ("Open", "UploadComplete"):
            return []  # an InProgress job's runner hands back what it did not get to
        try:
            return self._parsed()
        except BulkError:
            return []

    def _parsed(self) -> list[list[str]]:
        """Every data row of every upload; sets `header` from the first upload."""
        rows: list[list[str]] = []
        for data in self.uploads:
            self._check_line_ending(data)
            text = data.decode("utf-8-sig", errors="replace")
            table = list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[self.column_delimiter]))
            if not table:
                continue
            if not self.header:
                self.header = table[0]
            elif table[0] != self.header:
                raise BulkError("INVALIDBATCH", "InvalidBatch : Every upload of a job must have the same header row")
            rows.extend(row for row in table[1:] if row)
        if not self.header:
            raise BulkError("INVALIDBATCH", "InvalidBatch : No data uploaded to the job")
        return rows

    def _check_line_ending(self, data: bytes) -> None:
        # The header row's line break tells which ending the file uses; it must be the job's `lineEnding`.
        first_break = data.find(b"\n")
        crlf = first_break > 0 and data[first_break - 1 : first_break] == b"\r"
        if first_break >= 0 and crlf != (self.line_ending == "CRLF"):
            raise BulkError(
                "CLIENTINPUTERROR",
                "ClientInputError : LineEnding is invalid on user data. "
                f"Current LineEnding setting is {self.line_ending}",
            )

    def start(self, *, now: datetime) -> list[Chunk]:
        """UploadComplete → InProgress: parse the uploads into chunks, or fail the whole job as the API does."""
        if self.state != "UploadComplete":
            raise BulkError("INVALIDJOBSTATE", f"Job state must be UploadComplete to start; it is {self.state}")
        self.state = "InProgress"
        self.system_modstamp = now
        rows: list[list[str]] = []
        try:
            rows = self._parsed()
            columns = [self._column(name) for name in self.header]
            self._check_key_column()
        except BulkError as error:
            self.fail(error.message, now=now, rest=[Chunk(rows, [])])  # every parsed row stays unprocessed
            return []
        chunks: list[Chunk] = []
        for start in range(0, len(rows), CHUNK_RECORDS):
            batch = rows[start : start + CHUNK_RECORDS]
            chunks.append(Chunk(batch, [self._record(columns, row) for row in batch]))
        return chunks

    def _column(self, name: str) -> tuple[str, str | None, Mapping[str, Any] | None]:
        """(key in the record, nested key for `Rel.ExtField`, the describe field) for one header column."""
        relationship, _, ext_field = name.partition(".")
        if ext_field:
            lookup = next(
                (
                    f
                    for f in self.fields.values()
                    if str(f.get("relationshipName") or "").lower() == relationship.lower()
                ),
                None,
            )
            if lookup is None:
                raise BulkError("INVALIDBATCH", f"InvalidBatch : Field name not found : {name}")
            return str(lookup["relationshipName"]), ext_field, None
        found = self.fields.get(name.lower())
        if found is None:
            raise BulkError("INVALIDBATCH", f"InvalidBatch : Field name not found : {name}")
        return str(found["name"]), None, found

    def _check_key_column(self) -> None:
        key = self.external_id_field if self.operation == "upsert" else "Id"
        if self.operation != "insert" and key and key.lower() not in {h.lower() for h in self.header}:
            raise BulkError("INVALIDBATCH", f"InvalidBatch : Field name not found : {key}")

    def _record(
        self, columns: list[tuple[str, str | None, Mapping[str, Any] | None]], row: list[str]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for (key, nested, describe_field), value in zip(columns, row, strict=False):
            if value == "":
                continue  # a blank cell leaves the field as it is; `#N/A` clears it
            if nested is not None:
                record[key] = {nested: value}
            else:
                record[key] = _typed(value, describe_field)
        return record

    def record(self, chunk: Chunk, outcomes: Sequence[Mapping[str, Any]], *, apex_ms: float = 0.0) -> None:
        """Take one chunk's per-record outcomes (the sObject Collections item shape) from the write path."""
        for row, outcome in zip(chunk.rows, outcomes, strict=True):
            record_id = str(outcome.get("id") or "")
            if outcome.get("success"):
                created = outcome.get("created", self.operation == "insert")  # inserts report no `created`
                self.successful.append([record_id, "true" if created else "false", *row])
            else:
                errors = outcome.get("errors") or [{"statusCode": "UNKNOWN_EXCEPTION", "message": "unknown error"}]
                text = "; ".join(sf_error(e["statusCode"], e["message"], e.get("fields") or ()) for e in errors)
                self.failed.append([record_id, text, *row])
        self.processed += len(chunk.rows)
        self.apex_ms += apex_ms

    def finish(self, *, now: datetime, elapsed_ms: float) -> None:
        """InProgress → JobComplete (an Aborted job stays Aborted)."""
        self.processing_ms += elapsed_ms
        self.system_modstamp = now
        if self.state == "InProgress":
            self.state = "JobComplete"

    def fail(self, message: str, *, now: datetime, rest: Sequence[Chunk]) -> None:
        """The job Failed with `errorMessage`; rows of `rest` are unprocessed."""
        self.state = "Failed"
        self.error_message = message
        self.system_modstamp = now
        self.unprocessed.extend(row for chunk in rest for row in chunk.rows)

    def crash(self, message: str, *, now: datetime) -> None:
        """Processing broke off: the job Failed and the rows after those processed are unprocessed."""
        try:
            rows = self._parsed()
        except BulkError:
            rows = []
        self.fail(message, now=now, rest=[Chunk(rows[self.processed :], [])])

    def abandon(self, rest: Sequence[Chunk]) -> None:
        """The job was aborted while in progress: rows of `rest` are unprocessed."""
        self.unprocessed.extend(row for chunk in rest for row in chunk.rows)

    def _csv(self, head: list[str], rows: list[list[str]]) -> str:
        out = io.StringIO()
        writer = csv.writer(
            out, delimiter=DELIMITERS[self.column_delimiter], lineterminator=LINE_ENDINGS[self.line_ending]
        )
        writer.writerow(head)
        writer.writerows(rows)
        return out.getvalue()

    def successful_csv(self) -> str:
        """`sf__Id`, `sf__Created`, then the original columns."""
        return self._csv(["sf__Id", "sf__Created", *self.header], self.successful)

    def failed_csv(self) -> str:
        """`sf__Id`, `sf__Error`, then the original columns."""
        return self._csv(["sf__Id", "sf__Error", *self.header], self.failed)

    def unprocessed_csv(self) -> str:
        """The original columns of rows never processed (Failed or Aborted jobs)."""
        return self._csv(list(self.header), self.unprocessed)


def _external_id_field(body: Mapping[str, Any], operation: str, fields: Mapping[str, Mapping[str, Any]]) -> str | None:
    name = body.get("externalIdFieldName")
    if operation != "upsert":
        return None
    if not name:
        raise BulkError("INVALIDJOB", "InvalidJob : External ID was blank for upsert; externalIdFieldName is required")
    found = fields.get(str(name).lower())
    if found is None or not (found.get("externalId") or found.get("name") == "Id"):
        raise BulkError("INVALIDJOB", f"InvalidJob : The field {name} is not an External Id field")
    return str(found["name"])
