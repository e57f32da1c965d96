"""The API gate in front of every `/services/data/vXX.X/` request: faults, session, limits and the usage header.

In order: injected latency and 503s, session check (401 INVALID_SESSION_ID), the daily allocation (403
REQUEST_LIMIT_EXCEEDED, nothing counted), the concurrent long-running limit, the modelled request latency,
then the route. Every answer carries `Sforce-Limit-Info: api-usage=N/M`. A `drop_after_write` fault lets the
route run (the write is applied) and then closes the connection without a response body.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.emulator.org import CallLogEntry, Org
from bridge.emulator.responses import JSON, SESSION_KEY, call_options_client, error
from bridge.emulator.sessions import Session

_API_PATH = re.compile(r"^/services/data/v\d+\.\d+(/|$)")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in {"bearer", "oauth"} and token.strip() else None


class ApiGate:
    """ASGI middleware applying the org's faults, auth and limits to API requests."""

    def __init__(self, app: ASGIApp, org: Org) -> None:
        self._app = app
        self._org = org

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _API_PATH.match(scope["path"]):
            await self._app(scope, receive, send)
            return
        org, method, path = self._org, scope["method"], scope["path"]
        headers = _headers(scope)
        refused, session = await self._admit(method, path, headers)
        if refused is not None:
            await self._answer(scope, receive, send, refused)
            self._log(method, path, status=refused.status_code, session=session, headers=headers, calls=0)
            return
        assert session is not None  # noqa: S101 - admitted requests have a session
        ticket = org.concurrency.admit()
        if ticket is None:
            response = error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
            await self._answer(scope, receive, send, response)
            self._log(method, path, status=403, session=session, headers=headers, calls=0)
            return
        org.api_usage.spend(1)
        status = {"code": 0}
        try:
            wait_s = org.latency.request_s()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            drop = org.faults.take("drop_after_write", method, path) is not None
            locked = org.faults.take("unable_to_lock_row", method, path) is not None
            scope = {**scope, SESSION_KEY: session}
            with org.faults.locks_failing() if locked else contextlib.nullcontext():
                await self._app(scope, receive, self._wrap_send(send, status, drop=drop))
        finally:
            org.concurrency.release(ticket)
            self._log(method, path, status=status["code"], session=session, headers=headers, calls=1)

    async def _admit(self, method: str, path: str, headers: dict[str, str]) -> tuple[JSON | None, Session | None]:
        org = self._org
        latency = org.faults.take("latency", method, path)
        if latency is not None:
            await asyncio.sleep(latency.latency_ms / 1000)
        unavailable = org.faults.take("unavailable", method, path)
        if unavailable is not None:
            refused = error(503, "SERVER_UNAVAILABLE", "Server Unavailable")
            if unavailable.retry_after_s is not None:
                refused.headers["Retry-After"] = f"{unavailable.retry_after_s:g}"
            return refused, None
        token = _bearer(headers)
        if token is not None and org.faults.take("expire_session", method, path) is not None:
            org.sessions.expire(token)
        session = org.sessions.lookup(token) if token else None
        if session is None:
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid"), None
        if org.api_usage.used() >= org.api_usage.limit:
            return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), session
        return None, session

    def _wrap_send(self, send: Send, status: dict[str, int], *, drop: bool) -> Send:
        usage = self._org.api_usage

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", usage.header().encode()))
                if drop:
                    # Headers promising a body that never comes; the server then closes the connection.
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                    headers.append((b"content-length", b"1048576"))
                message = {**message, "headers": headers}
            elif drop and message["type"] == "http.response.body":
                return
            await send(message)

        return wrapped

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: JSON) -> None:
        response.headers["Sforce-Limit-Info"] = self._org.api_usage.header()
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = "Token"
        await response(scope, receive, send)

    def _log(
        self, method: str, path: str, *, status: int, session: Session | None, headers: dict[str, Any], calls: int
    ) -> None:
        user = session.user.username if session else ""
        entry = CallLogEntry(self._org.clock(), method, path, status, user, call_options_client(headers), calls)
        self._org.call_log.append(entry)
