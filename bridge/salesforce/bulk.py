"""Bulk API 2.0 ingest upsert: CSV up, close, poll with exponential backoff, collect per-record results.

A job costs about 5 + polls API calls whatever its size, so it pays for large batches only. The job is aborted
when anything fails (or the caller is cancelled) before Salesforce finished it, so no half-uploaded job lingers.

    result = await sf.bulk_upsert("Account", "Ext_Id__c", records, poll_interval_s=2.0)
    for record, sf_id, created in result.successful: ...
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bridge.salesforce.errors import BulkJobTimeout, SalesforceError
from bridge.salesforce.responses import json_body

NULL = "#N/A"  # how a Bulk API CSV sets a field to null
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # 150 MB after base64 encoding on Salesforce's side
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_log = logging.getLogger(__name__)

Record = Mapping[str, Any]
Sleep = Callable[[float], Awaitable[Any]]


class Requester(Protocol):
    """The part of `SalesforceClient` a job needs."""

    @property
    def base_path(self) -> str: ...

    async def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response: ...


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Wait `interval_s` before the first status check, double it up to `max_interval_s`, give up after `max_wait_s`."""

    interval_s: float = 1.0
    max_interval_s: float = 30.0
    max_wait_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class BulkJob:
    """What to upsert where."""

    sobject: str
    external_id_field: str
    poll: PollPolicy = field(default_factory=PollPolicy)


@dataclass(slots=True)
class BulkResult:
    """Per-record outcome of a job. `unprocessed` records were never attempted (job Failed or Aborted)."""

    job_id: str
    state: str
    successful: list[tuple[Record, str, bool]] = field(default_factory=list)
    failed: list[tuple[Record, str]] = field(default_factory=list)
    unprocessed: list[Record] = field(default_factory=list)
    error_message: str | None = None


def to_csv(records: Sequence[Record]) -> tuple[list[str], bytes]:
    """Columns (first-seen order; `Parent.Ext__c` for nested relationship references) and the CSV bytes."""
    rows = [_flatten(record) for record in records]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return columns, buffer.getvalue().encode("utf-8")


async def bulk_upsert(client: Requester, job: BulkJob, records: Sequence[Record], *, sleep: Sleep) -> BulkResult:
    """Run one ingest upsert job for `records` and account for every one of them."""
    if not records:
        return BulkResult(job_id="", state="JobComplete")
    columns, data = to_csv(records)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{len(data)} bytes of CSV: a Bulk API 2.0 upload takes at most {MAX_UPLOAD_BYTES}")
    jobs_path = f"{client.base_path}/jobs/ingest"
    created = await client.request("bulk", "POST", jobs_path, json=_job_spec(job))
    job_id = str(json_body(created)["id"])
    job_path = f"{jobs_path}/{job_id}"
    try:
        await client.request("bulk", "PUT", f"{job_path}/batches", content=data, headers={"Content-Type": "text/csv"})
        await client.request("bulk", "PATCH", job_path, json={"state": "UploadComplete"})
        info = await _wait(client, job_path, job.poll, sleep)
    except BaseException:
        await asyncio.shield(_abort(client, job_path))
        raise
    return await _collect(client, job_path, info, _Pending(records, columns, job.external_id_field))


def _job_spec(job: BulkJob) -> dict[str, str]:
    return {
        "object": job.sobject,
        "operation": "upsert",
        "externalIdFieldName": job.external_id_field,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }


async def _wait(client: Requester, job_path: str, poll: PollPolicy, sleep: Sleep) -> dict[str, Any]:
    waited_s = 0.0
    delay_s = poll.interval_s
    while True:
        if waited_s + delay_s > poll.max_wait_s:
            raise BulkJobTimeout("JOB_TIMEOUT", f"job {job_path.rsplit('/', 1)[-1]} unfinished after {waited_s:g} s")
        await sleep(delay_s)
        waited_s += delay_s
        delay_s = min(delay_s * 2, poll.max_interval_s)
        info: dict[str, Any] = json_body(await client.request("bulk", "GET", job_path))
        if info.get("state") in TERMINAL_STATES:
            return info


async def _abort(client: Requester, job_path: str) -> None:
    try:
        await client.request("bulk", "PATCH", job_path, json={"state": "Aborted"})
    except SalesforceError as exc:  # already finished or unreachable: the original error matters more
        _log.warning("could not abort bulk job %s: %s", job_path.rsplit("/", 1)[-1], exc.error_code)


async def _collect(client: Requester, job_path: str, info: Mapping[str, Any], pending: _Pending) -> BulkResult:
    result = BulkResult(job_id=job_path.rsplit("/", 1)[-1], state=str(info.get("state")))
    result.error_message = str(info["errorMessage"]) if info.get("errorMessage") else None
    for row in await _rows(client, f"{job_path}/successfulResults/"):
        result.successful.append((pending.take(row), row.get("sf__Id", ""), row.get("sf__Created") == "true"))
    for row in await _rows(client, f"{job_path}/failedResults/"):
        result.failed.append((pending.take(row), row.get("sf__Error", "")))
    if pending.left:  # a complete job has no unprocessed records: spare the call
        for row in await _rows(client, f"{job_path}/unprocessedrecords/"):
            result.unprocessed.append(pending.take(row))
    # Whatever Salesforce did not report on was not written as far as we can tell.
    result.unprocessed.extend(pending.remaining())
    return result


async def _rows(client: Requester, path: str) -> list[dict[str, str]]:
    response = await client.request("bulk", "GET", path, headers={"Accept": "text/csv"})
    return list(csv.DictReader(io.StringIO(response.text)))


class _Pending:
    """The job's records not yet matched to a result row (result order is arbitrary).

    A row matches a record by all its CSV values, else by the external ID alone (Salesforce may write a value
    back formatted differently, `1500.0` as `1500`). A row matching nothing is reported as it came back.
    """

    def __init__(self, records: Sequence[Record], columns: list[str], external_id_field: str) -> None:
        self._columns = columns
        self._key_field = external_id_field
        self._by_row: dict[tuple[str, ...], list[Record]] = defaultdict(list)
        self._by_key: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            flat = _flatten(record)
            self._by_row[tuple(flat.get(c, "") for c in columns)].append(record)
            self._by_key[flat.get(external_id_field, "")].append(record)
        self.left = len(records)

    def take(self, row: Mapping[str, str]) -> Record:
        exact = self._by_row.get(tuple(row.get(c, "") for c in self._columns))
        same_key = self._by_key.get(row.get(self._key_field, ""))
        record = exact[0] if exact else same_key[0] if same_key else None
        if record is None:
            return {c: row[c] for c in self._columns if c in row}
        self._forget(record)
        return record

    def _forget(self, record: Record) -> None:
        flat = _flatten(record)
        _remove(self._by_row[tuple(flat.get(c, "") for c in self._columns)], record)
        _remove(self._by_key[flat.get(self._key_field, "")], record)
        self.left -= 1

    def remaining(self) -> list[Record]:
        return [record for records in self._by_row.values() for record in records]


def _remove(records: list[Record], record: Record) -> None:
    for index, candidate in enumerate(records):
        if candidate is record:
            del records[index]
            return


def _flatten(record: Record) -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, Mapping):
            flat.update({f"{name}.{key}": _cell(inner) for key, inner in value.items() if key != "attributes"})
        else:
            flat[name] = _cell(value)
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
