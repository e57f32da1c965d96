"""`EmulatorServer`: the emulator on a real socket (uvicorn in this event loop), optionally HTTPS and Pub/Sub.

async with EmulatorServer(Org()) as server:
    server.url            # http://127.0.0.1:PORT, the instance URL
    server.pubsub_target  # 127.0.0.1:PORT when pubsub_port is given (0 = any free port)

With `pubsub_tls=True` the gRPC port speaks TLS with the same self-signed certificate as HTTPS (`server.certfile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from bridge.emulator.app import create_app
from bridge.emulator.org import Org
from bridge.emulator.pubsub_server import PubSubServer
from bridge.emulator.tls import write_self_signed


class _Server(uvicorn.Server):
    # Signals belong to the CLI (or the test runner), not to a server embedded in a running loop.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmulatorServer:
    """Serve `org` on `host:port` (0 = a free port) until the context exits."""

    def __init__(
        self,
        org: Org,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = False,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
        pubsub_port: int | None = None,
        pubsub_tls: bool = False,
    ) -> None:
        self.org = org
        self.host = host
        self.port = port
        self.tls = tls or certfile is not None
        self.certfile = Path(certfile) if certfile else None
        self.keyfile = Path(keyfile) if keyfile else None
        self._pubsub_port = pubsub_port
        self.pubsub_tls = pubsub_tls
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()
        self.pubsub: PubSubServer | None = None

    def __repr__(self) -> str:
        return f"EmulatorServer(url={self.url if self._server else None!r}, tls={self.tls})"

    @property
    def url(self) -> str:
        """The instance URL clients use."""
        scheme = "https" if self.tls else "http"
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host  # noqa: S104 - mapping, not binding
        return f"{scheme}://{host}:{self.port}"

    @property
    def pubsub_target(self) -> str | None:
        """`host:port` of the gRPC Pub/Sub API, when enabled."""
        return self.pubsub.target if self.pubsub is not None else None

    async def __aenter__(self) -> EmulatorServer:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        ssl: dict[str, Any] = {}
        if (self.tls or self.pubsub_tls) and (self.certfile is None or self.keyfile is None):
            directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="emulator-tls-")))
            self.certfile, self.keyfile = write_self_signed(directory, self.host)
        if self.tls:
            ssl = {"ssl_certfile": str(self.certfile), "ssl_keyfile": str(self.keyfile)}
        config = uvicorn.Config(
            create_app(self.org),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=2,
            **ssl,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the emulator's HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        if self._pubsub_port is not None:
            tls = (self.certfile, self.keyfile) if self.pubsub_tls and self.certfile and self.keyfile else None
            pubsub = PubSubServer(self.org.feed, host=self.host, port=self._pubsub_port, tls=tls)
            self.pubsub = await self._stack.enter_async_context(pubsub)

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._server is not None and self._task is not None:
                self._server.should_exit = True
                await self._task
        finally:
            await self._stack.aclose()
