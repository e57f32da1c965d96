"""Bulk API 2.0 over HTTP: `/jobs/ingest` create, list, upload, close/abort, info, results and delete (and the
`/jobs/query` jobs of `routes_bulk_query`).

After `UploadComplete` a job runs in the background: chunks of 200 records go through the org's write path
(partial success, as the API does), each chunk taking the latency model's simulated time. Every request counts
as one API call; the records do not.

    ingest = BulkIngest(org)          # behind `ApiGate`, which authenticates and counts every request
    app = Starlette(routes=[*ingest.routes(), ...], lifespan=...)   # `async with ingest:` stops running jobs
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.bulk import BulkError, Chunk, IngestJob
from bridge.emulator.ids import make_id
from bridge.emulator.responses import SESSION_KEY, call_options_client
from bridge.emulator.routes_bulk_query import QueryJobs
from bridge.emulator.routes_query import QueryOrg

Guard = Callable[[Request, str], Awaitable[Response | None]]
LOCK_RETRIES = 3  # how often Salesforce retries lock failures inside a job is not documented for Bulk API 2.0
_NOT_FOUND = BulkError("NOT_FOUND", "The requested resource does not exist", status=404)


class Sessions(Protocol):
    """Token lookup, to learn who created a job."""

    def lookup(self, token: str, *, touch: bool = True) -> Any: ...


class Latency(Protocol):
    """The simulated cost of a request and of written records."""

    def request_s(self, extra_ms: float = 0.0) -> float: ...

    def write_s(self, records: int, cpu_ms: float) -> float: ...


class BulkOrg(QueryOrg, Protocol):
    """What the Bulk routes need from the org (`bridge.emulator.org.Org` provides it); query jobs query it."""

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def latency(self) -> Latency: ...

    def describe(self, sobject: str) -> Mapping[str, Any] | None: ...

    def user(self, ref: Any = None) -> Any: ...

    def upsert_many(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], all_or_none: bool, user: Any,
        *, client: str | None = None,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    def insert_many(
        self, sobject: str, records: Sequence[Mapping[str, Any]], all_or_none: bool, user: Any,
        *, client: str | None = None,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    def update_many(
        self, sobject: str, records: Sequence[Mapping[str, Any]], all_or_none: bool, user: Any,
        *, client: str | None = None,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    def delete_many(
        self, ids: Sequence[str], all_or_none: bool, user: Any, *, client: str | None = None
    ) -> list[dict[str, Any]]: ...


async def admit(request: Request, kind: str) -> Response | None:
    """The default guard: nothing to check, because `ApiGate` in front of the routes already did."""
    del request, kind
    return None


def _lock_error(outcome: Mapping[str, Any]) -> bool:
    return any(error.get("statusCode") == "UNABLE_TO_LOCK_ROW" for error in outcome.get("errors") or ())


def _error(error: BulkError) -> Response:
    return Response(orjson.dumps(error.as_body()), error.status, media_type="application/json")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _csv(text: str) -> Response:
    return Response(text.encode(), media_type="text/csv")


class BulkIngest:
    """Ingest jobs of one org and the tasks processing them; `async with` stops unfinished work on exit."""

    def __init__(self, org: BulkOrg, guard: Guard | None = None) -> None:
        self.org = org
        self.guard = guard or admit
        self.jobs: dict[str, IngestJob] = {}
        self._clients: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count(1)
        self.queries = QueryJobs(org, self._creator, org.latency.request_s)

    def __repr__(self) -> str:
        return f"BulkIngest(jobs={len(self.jobs)}, running={len(self._tasks)})"

    async def __aenter__(self) -> BulkIngest:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel jobs still processing (they stay InProgress, as after a server crash)."""
        tasks = self._tasks | self.queries.tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every job that is processing has finished (for tests and benchmarks)."""
        while self._tasks or self.queries.tasks:
            await asyncio.gather(*self._tasks, *self.queries.tasks, return_exceptions=True)

    def routes(self) -> list[Route]:
        """The `/jobs/ingest` and `/jobs/query` routes (with and without a trailing slash, as clients use both)."""
        base = "/services/data/v{version}/jobs/ingest"
        table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
            ("", "GET", self._list),
            ("", "POST", self._create),
            ("/{job_id}", "GET", self._info),
            ("/{job_id}", "PATCH", self._patch),
            ("/{job_id}", "DELETE", self._delete),
            ("/{job_id}/batches", "PUT", self._upload),
            ("/{job_id}/successfulResults", "GET", self._successful),
            ("/{job_id}/failedResults", "GET", self._failed),
            ("/{job_id}/unprocessedrecords", "GET", self._unprocessed),
            ("/{job_id}/unprocessedRecords", "GET", self._unprocessed),
        ]
        routes = self.queries.routes(self._guarded)
        for suffix, method, handler in table:
            endpoint = self._guarded(handler)
            routes.append(Route(base + suffix, endpoint, methods=[method]))
            routes.append(Route(base + suffix + "/", endpoint, methods=[method]))
        return routes

    def _guarded(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refused = await self.guard(request, "bulk")
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except BulkError as error:
                return _error(error)

        return endpoint

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.org.clock(), UTC)

    def _job(self, request: Request) -> IngestJob:
        job = self.jobs.get(str(request.path_params["job_id"]))
        if job is None:
            raise _NOT_FOUND
        return job

    def _creator(self, request: Request) -> str:
        session = request.scope.get(SESSION_KEY)
        if session is None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            session = self.org.sessions.lookup(token, touch=False) if token else None
        return str(session.user.id) if session is not None else str(self.org.user(None).id)

    async def _create(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as error:
            raise BulkError("JSON_PARSER_ERROR", f"Unexpected character: {error}") from None
        if not isinstance(body, dict):
            raise BulkError("JSON_PARSER_ERROR", "Cannot deserialize the job: expected a JSON object")
        job = IngestJob.create(
            body,
            job_id=make_id("750", next(self._numbers)),
            user_id=self._creator(request),
            api_version=str(request.path_params["version"]),
            now=self._now(),
            describe=self.org.describe(str(body.get("object") or "")),
        )
        self._clients[job.id] = call_options_client(request.headers)
        self.jobs[job.id] = job
        return _json(job.info(full=False))

    async def _list(self, request: Request) -> Response:
        records = [job.info(full=False) for job in self.jobs.values()]
        return _json({"done": True, "records": records, "nextRecordsUrl": None})

    async def _info(self, request: Request) -> Response:
        return _json(self._job(request).info())

    async def _upload(self, request: Request) -> Response:
        job = self._job(request)
        job.upload(await request.body(), now=self._now())
        return Response(status_code=201)

    async def _patch(self, request: Request) -> Response:
        job = self._job(request)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as error:
            raise BulkError("JSON_PARSER_ERROR", f"Unexpected character: {error}") from None
        state = body.get("state") if isinstance(body, dict) else None
        job.set_state(state, now=self._now())
        if job.state == "UploadComplete":
            task = asyncio.create_task(self._run(job), name=f"bulk-ingest-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, job))
        return _json(job.info(full=False))

    def _finished(self, job: IngestJob, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug in the write path must not leave the job InProgress for ever
            job.crash(f"InternalServerError : {error!r}", now=self._now())

    async def _delete(self, request: Request) -> Response:
        job = self._job(request)
        job.deletable()
        del self.jobs[job.id]
        return Response(status_code=204)

    async def _successful(self, request: Request) -> Response:
        return _csv(self._job(request).successful_csv())

    async def _failed(self, request: Request) -> Response:
        return _csv(self._job(request).failed_csv())

    async def _unprocessed(self, request: Request) -> Response:
        return _csv(self._job(request).unprocessed_csv())

    async def _run(self, job: IngestJob) -> None:
        """Process a closed job chunk by chunk; an abort stops it between chunks."""
        await asyncio.sleep(self.org.latency.request_s())  # queued in UploadComplete for a moment
        if job.state != "UploadComplete":
            return
        started_s = self.org.clock()
        chunks = job.start(now=self._now())
        for index, chunk in enumerate(chunks):
            if job.state != "InProgress":
                job.abandon(chunks[index:])
                return
            job.record(chunk, await self._write_retrying(job, chunk))  # an exception here ends in `_finished`
            await asyncio.sleep(self.org.latency.write_s(len(chunk.records), 0.0))
        job.finish(now=self._now(), elapsed_ms=(self.org.clock() - started_s) * 1000)

    async def _write_retrying(self, job: IngestJob, chunk: Chunk) -> list[dict[str, Any]]:
        """Write a chunk; records refused with UNABLE_TO_LOCK_ROW are tried again (counted in `retries`)."""
        outcomes = self._write(job, chunk)
        for _attempt in range(LOCK_RETRIES):
            locked = [i for i, outcome in enumerate(outcomes) if _lock_error(outcome)]
            if not locked:
                break
            job.retries += 1
            await asyncio.sleep(self.org.latency.request_s())
            again = Chunk([chunk.rows[i] for i in locked], [chunk.records[i] for i in locked])
            for index, outcome in zip(locked, self._write(job, again), strict=True):
                outcomes[index] = outcome
        return outcomes

    def _write(self, job: IngestJob, chunk: Chunk) -> list[dict[str, Any]]:
        """One internal transaction with partial success, as the job's creator and client."""
        user, client = job.created_by_id, self._clients.get(job.id)
        if job.operation == "upsert" and job.external_id_field:
            return self.org.upsert_many(job.object, job.external_id_field, chunk.records, False, user, client=client)
        if job.operation == "insert":
            return self.org.insert_many(job.object, chunk.records, False, user, client=client)
        if job.operation == "update":
            return self.org.update_many(job.object, chunk.records, False, user, client=client)
        ids = [str(record.get("Id") or "") for record in chunk.records]
        return self.org.delete_many(ids, False, user, client=client)


def bulk_routes(source: BulkIngest | BulkOrg, guard: Guard | None = None) -> list[Route]:
    """The Bulk API 2.0 ingest routes of a `BulkIngest` (whose `async with` the app's lifespan enters, so
    running jobs stop on shutdown), or of a new one for an org."""
    ingest = source if isinstance(source, BulkIngest) else BulkIngest(source, guard)
    return ingest.routes()
