"""The query resources: `/query`, `/queryAll`, `/tooling/query` and their `nextRecordsUrl` follow-ups.

A query runs once; its records are kept under a locator (`01g…`) and served in pages of `batchSize`
(`Sforce-Query-Options`, 200..2000, default 2000) as `/services/data/vXX.X/query/<locator>-<offset>`.
Every request, follow-ups included, counts as one API call.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.ids import make_id
from bridge.emulator.query_describes import TOOLING_DESCRIBES, USER_DESCRIBES
from bridge.emulator.soql import FieldRef, SoqlError, SoqlQuery, parse_soql
from bridge.emulator.soql_eval import QueryResult, execute

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS = 200
CURSOR_IDLE_S = 15 * 60
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_ONE_ROW_FIELDS = frozenset({"metadata", "fullname"})
_DATA_API_TOOLING = frozenset({"apextrigger"})  # Tooling objects the data API's /query serves too


class Users(Protocol):
    """A user of the org's profile."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def alias(self) -> str: ...
    @property
    def profile_id(self) -> str: ...
    @property
    def profile_name(self) -> str: ...


class Entity(Protocol):
    """An object of the org's profile."""

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...


class UserDirectory(Protocol):
    """The parts of the org profile that list users and objects."""

    @property
    def users(self) -> Sequence[Users]: ...
    @property
    def objects(self) -> Mapping[str, Entity]: ...


def user_tables(directory: UserDirectory) -> dict[str, list[dict[str, Any]]]:
    """User and Profile rows from the profile's users."""
    users = [
        {
            "Id": u.id,
            "Username": u.username,
            "Name": u.name,
            "Alias": u.alias,
            "IsActive": True,
            "ProfileId": u.profile_id,
        }
        for u in directory.users
    ]
    profiles = {u.profile_id: {"Id": u.profile_id, "Name": u.profile_name} for u in directory.users}
    return {"User": users, "Profile": list(profiles.values())}


class QueryOrg(Protocol):
    """What the query routes need from the org (`bridge.emulator.org.Org` provides it)."""

    @property
    def clock(self) -> Callable[[], float]: ...

    def describe(self, sobject: str) -> Mapping[str, Any] | None: ...

    def rows(self, sobject: str, *, include_deleted: bool) -> Iterable[Mapping[str, Any]]: ...

    def get(self, sobject: str, record_id: str) -> Mapping[str, Any] | None: ...

    def tooling_rows(self, entity: str) -> Iterable[Mapping[str, Any]]: ...

    @property
    def profile(self) -> UserDirectory: ...


def _find(table: Mapping[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    return table.get(name) or next((d for n, d in table.items() if n.lower() == name.lower()), None)


@dataclass
class Cursor:
    """The records of one query run, served page by page."""

    records: list[dict[str, Any]]
    total_size: int
    batch_size: int
    tooling: bool
    last_used_s: float = 0.0


class QueryCursors:
    """Open query locators: idle ones expire after `idle_s` (15 minutes, as on Salesforce); past `limit` the
    least recently used go first."""

    def __init__(self, limit: int = MAX_CURSORS, idle_s: float = CURSOR_IDLE_S) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._count = 0
        self._limit = limit
        self._idle_s = idle_s

    def open(self, cursor: Cursor) -> str:
        """Keep `cursor`; returns its locator."""
        self._count += 1
        locator = make_id("01g", self._count)
        self._cursors[locator] = cursor
        while len(self._cursors) > self._limit:
            self._cursors.popitem(last=False)
        return locator

    def get(self, locator: str, now_s: float) -> Cursor | None:
        """The cursor for `locator` (now used), or None when unknown or expired."""
        cursor = self._cursors.get(locator)
        if cursor is None or now_s - cursor.last_used_s > self._idle_s:
            self._cursors.pop(locator, None)
            return None
        cursor.last_used_s = now_s
        self._cursors.move_to_end(locator)
        return cursor


Guard = Callable[[Request, str], Awaitable[Response | None]]


def error_response(error_code: str, message: str, status: int = 400) -> Response:
    """The REST error array `[{"message", "errorCode"}]`."""
    return Response(
        orjson.dumps([{"message": message, "errorCode": error_code}]), status, media_type="application/json"
    )


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def admit(request: Request, kind: str) -> Response | None:
    """The default guard: nothing to check, because `ApiGate` in front of the routes already did."""
    del request, kind
    return None


def batch_size(header: str | None) -> int:
    """`Sforce-Query-Options: batchSize=N` clamped to 200..2000 (2000 when absent or unreadable)."""
    match = _BATCH_SIZE.search(header or "")
    return DEFAULT_BATCH if match is None else max(MIN_BATCH, min(DEFAULT_BATCH, int(match.group(1))))


class QueryResource:
    """Runs queries against an org and serves the pages of their results."""

    def __init__(self, org: QueryOrg, guard: Guard | None = None) -> None:
        self.org = org
        self.guard = guard or admit
        self.cursors = QueryCursors()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.org.clock(), UTC)

    def run(self, text: str, *, tooling: bool, include_deleted: bool, version: str) -> QueryResult:
        """Parse and execute `text`; raises `SoqlError`."""
        query = parse_soql(text)
        if tooling:
            return self._run_tooling(query, version)
        described = self.org.describe(query.sobject)
        virtual = _find(USER_DESCRIBES, query.sobject) if described is None else None
        if virtual is not None:
            return self._run_users(query, str(virtual["name"]), version)
        if described is None and query.sobject.lower() in _DATA_API_TOOLING:
            return self._run_tooling(query, version, tooling=False)
        rows = self.org.rows(str(described["name"]), include_deleted=include_deleted) if described else []
        return execute(
            query, rows, self.org.describe, self.org.get, now=self._now(), sobjects_url=_sobjects(version, tooling)
        )

    def _run_users(self, query: SoqlQuery, sobject: str, version: str) -> QueryResult:
        tables = user_tables(self.org.profile)

        def describe(sobject: str) -> Mapping[str, Any] | None:
            return _find(USER_DESCRIBES, sobject)

        def resolve(sobject: str, record_id: str) -> Mapping[str, Any] | None:
            return next((row for row in tables.get(sobject, []) if row["Id"] == record_id), None)

        return execute(
            query, tables[sobject], describe, resolve, now=self._now(), sobjects_url=_sobjects(version, False)
        )

    def _entity_definitions(self) -> list[dict[str, Any]]:
        """EntityDefinition rows; DurableId is the API name, or the CustomObject id for custom objects."""
        custom_ids = {str(row.get("FullName")): str(row["Id"]) for row in self.org.tooling_rows("CustomObject")}
        rows = []
        for spec in self.org.profile.objects.values():
            durable_id = custom_ids.get(spec.name, spec.name)
            rows.append(
                {
                    "Id": durable_id,
                    "DurableId": durable_id,
                    "QualifiedApiName": spec.name,
                    "DeveloperName": spec.name.removesuffix("__c"),
                    "Label": spec.label,
                    "NamespacePrefix": None,
                }
            )
        return rows

    def _run_tooling(self, query: SoqlQuery, version: str, *, tooling: bool = True) -> QueryResult:
        described = _find(TOOLING_DESCRIBES, query.sobject)
        entities = self._entity_definitions()
        name = str(described["name"]) if described else ""
        rows = entities if name == "EntityDefinition" else list(self.org.tooling_rows(name))
        parents = {str(entity["DurableId"]): entity for entity in entities}

        def resolve(sobject: str, key: str) -> Mapping[str, Any] | None:
            return parents.get(key)

        def describe(sobject: str) -> Mapping[str, Any] | None:
            return _find(TOOLING_DESCRIBES, sobject)

        result = execute(query, rows, describe, resolve, now=self._now(), sobjects_url=_sobjects(version, tooling))
        one_row = [f for f in _selected_names(query) if f.lower() in _ONE_ROW_FIELDS]
        if one_row and len(result.records) > 1:
            raise SoqlError(
                "MALFORMED_QUERY",
                "When retrieving results with Metadata or FullName fields, the query qualifications must specify no "
                f"more than one row for retrieval. Result size: {len(result.records)}",
            )
        return result

    def first_page(self, request: Request, result: QueryResult, *, tooling: bool) -> dict[str, Any]:
        """The first page, opening a cursor when more pages follow."""
        size = batch_size(request.headers.get("sforce-query-options"))
        if len(result.records) <= size:
            return {"totalSize": result.total_size, "done": True, "records": result.records}
        locator = self.cursors.open(Cursor(result.records, result.total_size, size, tooling, self.org.clock()))
        return self.page(request.path_params["version"], locator, 0)

    def page(self, version: str, locator: str, offset: int) -> dict[str, Any]:
        """The page of `locator` starting at `offset`."""
        cursor = self.cursors.get(locator, self.org.clock())
        if cursor is None or not 0 <= offset <= len(cursor.records):
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        end = offset + cursor.batch_size
        body: dict[str, Any] = {"totalSize": cursor.total_size, "done": end >= len(cursor.records)}
        if not body["done"]:
            prefix = "tooling/" if cursor.tooling else ""
            body["nextRecordsUrl"] = f"/services/data/v{version}/{prefix}query/{locator}-{end}"
        body["records"] = cursor.records[offset:end]
        return body

    async def query(self, request: Request) -> Response:
        return await self._query(request, tooling=False, include_deleted=False)

    async def query_all(self, request: Request) -> Response:
        return await self._query(request, tooling=False, include_deleted=True)

    async def tooling_query(self, request: Request) -> Response:
        return await self._query(request, tooling=True, include_deleted=False)

    async def _query(self, request: Request, *, tooling: bool, include_deleted: bool) -> Response:
        refused = await self.guard(request, "query")
        if refused is not None:
            return refused
        text = request.query_params.get("q")
        if not text:
            return error_response("MALFORMED_QUERY", "A query string has to be specified")
        try:
            version = request.path_params["version"]
            result = self.run(text, tooling=tooling, include_deleted=include_deleted, version=version)
            return _json(self.first_page(request, result, tooling=tooling))
        except SoqlError as error:
            return error_response(error.error_code, error.message)

    async def more(self, request: Request) -> Response:
        refused = await self.guard(request, "query")
        if refused is not None:
            return refused
        locator, _, offset = str(request.path_params["cursor"]).rpartition("-")
        if not offset.isdigit():
            return error_response("INVALID_QUERY_LOCATOR", "invalid query locator")
        try:
            return _json(self.page(request.path_params["version"], locator, int(offset)))
        except SoqlError as error:
            return error_response(error.error_code, error.message)


def _sobjects(version: str, tooling: bool) -> str:
    return f"/services/data/v{version}/{'tooling/' if tooling else ''}sobjects"


def _selected_names(query: SoqlQuery) -> list[str]:
    return [".".join(item.path) for item in query.select if isinstance(item, FieldRef)]


def query_routes(org: QueryOrg, guard: Guard | None = None) -> list[Route]:
    """The query routes. Behind `ApiGate` no `guard` is needed; otherwise `guard(request, kind)` authenticates
    and counts the call, returning a refusal or None."""
    resource = QueryResource(org, guard)
    base = "/services/data/v{version}"
    return [
        Route(f"{base}/query", resource.query, methods=["GET"]),
        Route(f"{base}/query/", resource.query, methods=["GET"]),
        Route(f"{base}/queryAll", resource.query_all, methods=["GET"]),
        Route(f"{base}/queryAll/", resource.query_all, methods=["GET"]),
        Route(f"{base}/query/{{cursor}}", resource.more, methods=["GET"]),
        Route(f"{base}/queryAll/{{cursor}}", resource.more, methods=["GET"]),
        Route(f"{base}/tooling/query", resource.tooling_query, methods=["GET"]),
        Route(f"{base}/tooling/query/", resource.tooling_query, methods=["GET"]),
        Route(f"{base}/tooling/query/{{cursor}}", resource.more, methods=["GET"]),
    ]
