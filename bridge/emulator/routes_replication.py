"""Replication resources: `GET /sobjects/{S}/updated` and `/deleted` over a date-time window.

`updated` lists ids whose SystemModstamp falls in [start, end]; `deleted` lists deleted records with their
deletion time. Seconds are truncated as documented; `latestDateCovered` is the window's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.clock import format_datetime, parse_datetime_ms
from bridge.emulator.org import Org
from bridge.emulator.responses import JSON, error
from bridge.emulator.routes_sobjects import BASE

MAX_IDS = 600_000
UPDATED_DAYS = 30
DELETED_DAYS = 15


def _minute(text: str) -> datetime:
    moment = datetime.fromtimestamp(parse_datetime_ms(text) / 1000, tz=UTC)
    return moment.replace(second=0, microsecond=0)


class ReplicationRoutes:
    """Handlers bound to one org."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """`/sobjects/{S}/updated` and `/sobjects/{S}/deleted` (with or without a trailing slash)."""
        paths = [
            (f"{BASE}/sobjects/{{sobject}}/{kind}{slash}", kind)
            for kind in ("updated", "deleted")
            for slash in ("", "/")
        ]
        return [
            Route(path, self.updated if kind == "updated" else self.deleted, methods=["GET"]) for path, kind in paths
        ]

    def _window(self, request: Request, days: int) -> tuple[datetime, datetime] | Response:
        try:
            start = _minute(request.query_params["start"])
            end = _minute(request.query_params["end"])
        except (KeyError, ValueError):
            return error(400, "MALFORMED_QUERY", "start and end must be date-times like 2024-05-01T00:00:00+00:00")
        now = datetime.fromtimestamp(self.org.clock(), tz=UTC)
        if start > end or start < now - timedelta(days=days):
            return error(400, "INVALID_REPLICATION_DATE", f"start must be within the last {days} days and before end")
        return start, end

    def _rows(self, request: Request, *, deleted: bool) -> list[dict[str, Any]] | Response:
        spec = self.org.sobject(request.path_params["sobject"])
        if spec is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return [r for r in self.org.rows(spec.name, include_deleted=deleted) if bool(r.get("IsDeleted")) == deleted]

    async def updated(self, request: Request) -> Response:
        """`GET /sobjects/{S}/updated?start=&end=`."""
        window = self._window(request, UPDATED_DAYS)
        if isinstance(window, Response):
            return window
        rows = self._rows(request, deleted=False)
        if isinstance(rows, Response):
            return rows
        start_ms, end_ms = (int(w.timestamp() * 1000) for w in window)
        ids = [r["Id"] for r in rows if start_ms <= parse_datetime_ms(r["SystemModstamp"]) <= end_ms]
        if len(ids) > MAX_IDS:
            return error(400, "EXCEEDED_ID_LIMIT", "too many ids; use a shorter window")
        return JSON({"ids": ids, "latestDateCovered": format_datetime(window[1].timestamp())})

    async def deleted(self, request: Request) -> Response:
        """`GET /sobjects/{S}/deleted?start=&end=`."""
        window = self._window(request, DELETED_DAYS)
        if isinstance(window, Response):
            return window
        rows = self._rows(request, deleted=True)
        if isinstance(rows, Response):
            return rows
        start_ms, end_ms = (int(w.timestamp() * 1000) for w in window)
        found = [
            {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
            for r in rows
            if start_ms <= parse_datetime_ms(r["SystemModstamp"]) <= end_ms
        ]
        earliest = datetime.fromtimestamp(self.org.clock(), tz=UTC) - timedelta(days=DELETED_DAYS)
        return JSON(
            {
                "deletedRecords": found,
                "earliestDateAvailable": format_datetime(earliest.timestamp()),
                "latestDateCovered": format_datetime(window[1].timestamp()),
            }
        )
