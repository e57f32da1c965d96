"""The worker's HTTP server: `/healthz`, `/readyz`, `/metrics` and any routes a worker adds, on uvicorn in-loop.

    app = create_app(metrics.registry, {"kafka": publisher.ready}, routes=ingest_routes(...))
    async with WorkerServer(app, host="127.0.0.1", port=0) as server:
        print(server.url)        # http://127.0.0.1:<bound port>

`/healthz` answers 200 while the process serves requests. `/readyz` answers 200 only when every readiness
check returns True within its timeout, else 503 naming the failing checks. `/metrics` is the Prometheus text
exposition of the injected registry. Signals are left to the CLI: the server never installs handlers.

With `tls=` (an `ssl.SSLContext`) the server speaks HTTPS; a client certificate the context verified puts its
subject (RFC 4514) into the request's state as `request.state.tls_peer_subject` (`PEER_SUBJECT`). With
`limits=`, a connection that has not sent its request headers within `header_timeout_s` gets a 408 and is
closed (uvicorn itself never times out a first request), and requests beyond `max_connections` get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple, Self

import uvicorn
from cryptography import x509
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

ReadinessCheck = Callable[[], Awaitable[bool]]

_CHECK_TIMEOUT_S = 5.0
_START_TIMEOUT_S = 10.0
PEER_SUBJECT = "tls_peer_subject"
_LATE_BODY = b'{"error":"request_timeout","message":"the request headers did not arrive in time"}'
_LATE_HEADERS = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_LATE_BODY), _LATE_BODY)
)


class ConnectionLimits(NamedTuple):
    """What one connection may cost: time to send its headers, and how many connections are served at once."""

    header_timeout_s: float
    max_connections: int


def create_app(
    registry: CollectorRegistry,
    checks: Mapping[str, ReadinessCheck],
    *,
    routes: Sequence[BaseRoute] = (),
    check_timeout_s: float = _CHECK_TIMEOUT_S,
) -> Starlette:
    """The worker's ASGI app: health, readiness and metrics, plus `routes`."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        results = await run_checks(checks, timeout_s=check_timeout_s)
        failing = sorted(name for name, ok in results.items() if not ok)
        body = {"status": "not ready" if failing else "ready", "checks": results}
        return JSONResponse(body, status_code=503 if failing else 200)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    own = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=[*own, *routes])


async def run_checks(checks: Mapping[str, ReadinessCheck], *, timeout_s: float = _CHECK_TIMEOUT_S) -> dict[str, bool]:
    """Run every check concurrently; a check that raises or exceeds `timeout_s` counts as failed."""

    async def one(check: ReadinessCheck) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await check())
        except Exception:  # noqa: BLE001 - a failing check means "not ready", whatever the reason
            return False

    names = list(checks)
    outcomes = await asyncio.gather(*(one(checks[name]) for name in names))
    return dict(zip(names, outcomes, strict=True))


def peer_subject(ssl_object: ssl.SSLObject | None) -> str | None:
    """The subject (RFC 4514) of the client certificate the TLS handshake verified, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None


def _protocol(header_timeout_s: float | None) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus the peer's certificate subject in the request state and a header deadline."""

    class Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            subject = peer_subject(transport.get_extra_info("ssl_object"))
            if subject is not None:  # per connection: a copy, the server's state stays shared and clean
                self.app_state = {**self.app_state, PEER_SUBJECT: subject}
            if header_timeout_s is not None:
                self._deadline = asyncio.get_running_loop().call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            if self.cycle is None and not self.transport.is_closing():  # no request has begun on this connection
                self.transport.write(_LATE_HEADERS)
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return Protocol


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signal handling belongs to the CLI, not to a library object


class WorkerServer:
    """Serves an ASGI app with uvicorn in the running loop. An async context manager; no I/O until entered."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._tls = tls
        self._limits = limits
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        running = self._task is not None
        return f"WorkerServer(host={self._host!r}, port={self._port}, tls={self._tls is not None}, running={running})"

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0, once entered)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"{'https' if self._tls is not None else 'http'}://{self._host}:{self._port}"

    async def __aenter__(self) -> Self:
        sock = socket.create_server((self._host, self._port), reuse_port=False)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, lifespan="off", log_level="warning", access_log=False, **self._options())
        server = _InLoopServer(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http:{self._port}")
        async with asyncio.timeout(_START_TIMEOUT_S):
            while not server.started:
                if self._task.done():
                    sock.close()
                    await self._task  # raises the start-up error
                    raise RuntimeError("the HTTP server stopped during start-up")
                await asyncio.sleep(0.01)
        return self

    def _options(self) -> dict[str, Any]:
        limits = self._limits
        options: dict[str, Any] = {"http": _protocol(limits.header_timeout_s if limits else None)}
        if limits is not None:
            options["limit_concurrency"] = limits.max_connections
        if self._tls is not None:
            tls = self._tls
            options["ssl_context_factory"] = lambda _config, _default: tls
        return options

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None
