"""Bulk API 2.0 query jobs: `/jobs/query` create, list, info, abort, delete and CSV results by locator.

A job runs its SOQL once (query or queryAll) through the same engine as `/query`, then serves the rows as CSV
pages: `GET .../results?locator=&maxRecords=` with `Sforce-Locator` (`null` on the last page) and
`Sforce-NumberOfRecords`. Columns follow the SELECT list; relationship fields are `Account.Name`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.bulk import DELIMITERS, LINE_ENDINGS, BulkError, format_time
from bridge.emulator.ids import make_id
from bridge.emulator.routes_query import QueryOrg, QueryResource
from bridge.emulator.soql import SoqlError, parse_soql

Handler = Callable[[Request], Awaitable[Response]]
_NOT_FOUND = BulkError("NOT_FOUND", "The requested resource does not exist", status=404)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping) and "attributes" in value:
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@dataclass
class QueryJob:
    """One query job: what it asked, its state and its result rows."""

    id: str
    operation: str
    query: str
    object: str
    created_by_id: str
    created_date: datetime
    api_version: str
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    state: str = "UploadComplete"
    system_modstamp: datetime | None = None
    error_message: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The job info JSON of a V2Query job."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by_id,
            "createdDate": format_time(self.created_date),
            "systemModstamp": format_time(self.system_modstamp or self.created_date),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Query",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": len(self.rows),
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if self.error_message:
            out["errorMessage"] = self.error_message
        return out

    def complete(self, records: list[dict[str, Any]], *, now: datetime) -> None:
        """Keep the query's records as CSV rows; the job is JobComplete (unless it was aborted meanwhile)."""
        if self.state in ("Aborted", "Failed"):
            return
        flat = [_flatten(record) for record in records]
        self.columns = list(dict.fromkeys(itertools.chain.from_iterable(flat))) or self.columns
        self.rows = [[_cell(row.get(column)) for column in self.columns] for row in flat]
        self.state = "JobComplete"
        self.system_modstamp = now

    def page(self, locator: str | None, max_records: int | None) -> tuple[str, str, int]:
        """(CSV text, next locator or `null`, rows in this page) starting at `locator`."""
        if self.state != "JobComplete":
            raise BulkError("INVALIDJOBSTATE", f"Job state must be JobComplete to get results; it is {self.state}")
        start = int(locator) if locator and locator.isdigit() else 0
        if locator and not locator.isdigit():
            raise BulkError("INVALIDLOCATOR", f"Invalid locator: {locator}")
        end = len(self.rows) if not max_records else min(len(self.rows), start + max_records)
        out = io.StringIO()
        writer = csv.writer(
            out, delimiter=DELIMITERS[self.column_delimiter], lineterminator=LINE_ENDINGS[self.line_ending]
        )
        writer.writerow(self.columns)
        writer.writerows(self.rows[start:end])
        return out.getvalue(), (str(end) if end < len(self.rows) else "null"), end - start


class QueryJobs:
    """The query jobs of one org; `BulkIngest` mounts their routes and stops their tasks."""

    def __init__(self, org: QueryOrg, creator: Callable[[Request], str], delay_s: Callable[[], float]) -> None:
        self.org = org
        self.resource = QueryResource(org)
        self.creator = creator
        self.delay_s = delay_s
        self.jobs: dict[str, QueryJob] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count(1)

    def routes(self, guarded: Callable[[Handler], Handler]) -> list[Route]:
        """The `/jobs/query` routes, each wrapped by `guarded`."""
        base = "/services/data/v{version}/jobs/query"
        table: list[tuple[str, str, Handler]] = [
            ("", "GET", self._list),
            ("", "POST", self._create),
            ("/{job_id}", "GET", self._info),
            ("/{job_id}", "PATCH", self._patch),
            ("/{job_id}", "DELETE", self._delete),
            ("/{job_id}/results", "GET", self._results),
        ]
        routes = []
        for suffix, method, handler in table:
            endpoint = guarded(handler)
            routes.append(Route(base + suffix, endpoint, methods=[method]))
            routes.append(Route(base + suffix + "/", endpoint, methods=[method]))
        return routes

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.org.clock(), UTC)

    def _job(self, request: Request) -> QueryJob:
        job = self.jobs.get(str(request.path_params["job_id"]))
        if job is None:
            raise _NOT_FOUND
        return job

    async def _create(self, request: Request) -> Response:
        body = _json_object(await request.body())
        operation, text = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll"):
            raise BulkError("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if not isinstance(text, str) or not text.strip():
            raise BulkError("INVALIDJOB", "InvalidJob : A query is required for a query job")
        line_ending, delimiter = body.get("lineEnding", "LF"), body.get("columnDelimiter", "COMMA")
        if line_ending not in LINE_ENDINGS or delimiter not in DELIMITERS:
            raise BulkError("INVALIDJOB", "InvalidJob : lineEnding must be LF or CRLF and columnDelimiter a known name")
        version = str(request.path_params["version"])
        try:
            result = self.resource.run(text, tooling=False, include_deleted=operation == "queryAll", version=version)
        except SoqlError as error:
            raise BulkError(error.error_code, error.message) from None
        described = self.org.describe(parse_soql(text).sobject)
        sobject = described["name"] if described else parse_soql(text).sobject
        job = QueryJob(
            make_id("750", 50_000 + next(self._numbers)), str(operation), text, str(sobject),
            self.creator(request), self._now(), version, str(line_ending), str(delimiter),
        )  # fmt: skip
        self.jobs[job.id] = job
        task = asyncio.create_task(self._finish(job, result.records), name=f"bulk-query-{job.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return _json(job.info())

    async def _finish(self, job: QueryJob, records: list[dict[str, Any]]) -> None:
        await asyncio.sleep(self.delay_s())
        job.complete(records, now=self._now())

    async def _list(self, request: Request) -> Response:
        records = [job.info() for job in self.jobs.values()]
        return _json({"done": True, "records": records, "nextRecordsUrl": None})

    async def _info(self, request: Request) -> Response:
        return _json(self._job(request).info())

    async def _patch(self, request: Request) -> Response:
        job = self._job(request)
        state = _json_object(await request.body()).get("state")
        if state != "Aborted" or job.state in ("JobComplete", "Failed", "Aborted"):
            raise BulkError("INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {state}")
        job.state = "Aborted"
        return _json(job.info())

    async def _delete(self, request: Request) -> Response:
        job = self._job(request)
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise BulkError(
                "INVALIDJOBSTATE", f"Job state must be JobComplete, Failed or Aborted to delete; it is {job.state}"
            )
        del self.jobs[job.id]
        return Response(status_code=204)

    async def _results(self, request: Request) -> Response:
        job = self._job(request)
        max_records = request.query_params.get("maxRecords", "")
        text, locator, count = job.page(
            request.query_params.get("locator"), int(max_records) if max_records.isdigit() else None
        )
        headers = {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)}
        return Response(text.encode(), headers=headers, media_type="text/csv")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BulkError("JSON_PARSER_ERROR", f"Unexpected character: {error}") from None
    if not isinstance(body, dict):
        raise BulkError("JSON_PARSER_ERROR", "Cannot deserialize the job: expected a JSON object")
    return body


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
