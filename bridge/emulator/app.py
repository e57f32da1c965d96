"""The emulator's HTTP application: OAuth, REST, Collections, Composite (Graph, Tree), query, Bulk API 2.0.

For fast unit tests, talk to it in-process:

    app = create_app(org)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="https://emulator.test") as http:
        ...

and over a real socket with `EmulatorServer`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router
from starlette.types import Receive, Scope, Send

from bridge.emulator.auth import token_endpoint, userinfo_endpoint
from bridge.emulator.gate import ApiGate
from bridge.emulator.org import Org
from bridge.emulator.responses import error
from bridge.emulator.routes_collections import CollectionRoutes
from bridge.emulator.routes_composite import CompositeRoutes
from bridge.emulator.routes_control import ControlRoutes
from bridge.emulator.routes_graph import GraphRoutes
from bridge.emulator.routes_replication import ReplicationRoutes
from bridge.emulator.routes_sobjects import SObjectRoutes
from bridge.emulator.routes_tree import TreeRoutes


def _module(name: str) -> Any:
    # The query and Bulk API 2.0 routes live in their own modules; they are mounted when present.
    return importlib.import_module(name) if importlib.util.find_spec(name) is not None else None


def _query_routes(org: Org) -> list[BaseRoute]:
    module = _module("bridge.emulator.routes_query")
    if module is None:
        return []
    build: Callable[[Org], list[BaseRoute]] = module.query_routes
    return list(build(org))


def _bulk(org: Org) -> tuple[list[BaseRoute], Any]:
    """The Bulk API 2.0 routes and the `BulkIngest` whose running jobs the app's lifespan stops."""
    module = _module("bridge.emulator.routes_bulk")
    if module is None:
        return [], None
    ingest = module.BulkIngest(org)
    return list(module.bulk_routes(ingest)), ingest


async def _not_found_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await error(404, "NOT_FOUND", "The requested resource does not exist")(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
        return error(405, "METHOD_NOT_ALLOWED", message)
    return error(exc.status_code, "NOT_FOUND", "The requested resource does not exist")


def api_routes(org: Org, bulk: list[BaseRoute]) -> list[BaseRoute]:
    """Every `/services/data/vXX.X/...` route except Composite (which dispatches to these)."""
    routes: list[BaseRoute] = [
        *_query_routes(org),
        *bulk,
        *CollectionRoutes(org).routes(),
        *ReplicationRoutes(org).routes(),
        *SObjectRoutes(org).routes(),
    ]
    return routes


def create_app(org: Org) -> Starlette:
    """The ASGI app serving `org`; its lifespan stops running Bulk API jobs."""
    bulk, ingest = _bulk(org)
    api = api_routes(org, bulk)
    inner = Router(routes=api, default=_not_found_asgi)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if ingest is None:
            yield
            return
        async with ingest:
            yield

    composite = CompositeRoutes(org, inner)
    routes: list[BaseRoute] = [
        token_endpoint(org),
        userinfo_endpoint(org),
        *ControlRoutes(org).routes(),
        *GraphRoutes(org, composite).routes(),
        *TreeRoutes(org).routes(),
        *composite.routes(),
        *api,
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_error}
    return Starlette(
        routes=routes, middleware=[Middleware(ApiGate, org=org)], exception_handlers=handlers, lifespan=lifespan
    )
