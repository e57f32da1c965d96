"""The Pub/Sub API client: a Subscribe stream with `num_requested` flow control, GetSchema and GetTopic.

Auth metadata (`accesstoken`, `instanceurl`, `tenantid`) goes on every RPC. Errors come back as gRPC status
plus an `error-code` trailer and are mapped into `bridge.pubsub.errors`. The stream yields one `FetchBatch`
per `FetchResponse`, including empty keepalives, whose `latest_replay_id` the caller should checkpoint too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

import grpc

from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub._pb import pubsub_api_pb2_grpc as pb_grpc
from bridge.pubsub.errors import PubSubError, PubSubUnavailable, error_for_code


class Credentials(NamedTuple):
    """What every RPC carries. `access_token` is a secret: never logged."""

    access_token: str
    instance_url: str
    tenant_id: str
    user_id: str = ""  # the session's user: what a published event's CreatedById names


CredentialsProvider = Callable[[bool], Awaitable[Credentials]]  # argument: force a fresh login


@dataclass(frozen=True, slots=True)
class FetchBatch:
    """One FetchResponse: events (possibly none) and the newest replay id the server knows of."""

    events: tuple[Any, ...]
    latest_replay_id: bytes
    pending_num_requested: int


@dataclass(frozen=True, slots=True)
class ReplayStart:
    """Where a subscription starts: `EARLIEST`, `LATEST`, or `CUSTOM` after `replay_id`."""

    preset: str
    replay_id: bytes = b""

    @classmethod
    def after(cls, replay_id: bytes) -> ReplayStart:
        return cls("CUSTOM", replay_id)


def map_rpc_error(error: grpc.aio.AioRpcError) -> PubSubError:
    """Translate a failed RPC: the `error-code` trailer decides, the status code is the fallback."""
    trailers = dict(error.trailing_metadata() or ())
    code = str(trailers.get("error-code", ""))
    if not code and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return PubSubUnavailable(f"stream closed: {error.code().name}: {error.details()}")
    return error_for_code(code, f"{error.code().name}: {error.details()}")


class PubSubClient:
    """An async Pub/Sub API client over one gRPC channel. Constructing it does no I/O."""

    def __init__(
        self,
        target: str,
        *,
        credentials: CredentialsProvider,
        tls: bool = True,
        num_requested: int = 100,
        reconnect_backoff_s: tuple[float, float] = (1.0, 30.0),
        root_certificates: bytes | None = None,
    ) -> None:
        self._target = target
        self._reconnect_backoff_s = reconnect_backoff_s
        self._credentials = credentials
        self._tls = tls
        self._root_certificates = root_certificates
        self._num_requested = num_requested
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.PubSubStub | None = None

    def __repr__(self) -> str:
        return f"PubSubClient(target={self._target!r}, tls={self._tls}, open={self._channel is not None})"

    async def __aenter__(self) -> PubSubClient:
        # gRPC's own reconnect backoff grows to 120 s by default, which would outlast the source's retry policy
        # after an outage: bound it by the same (initial, max) pair.
        initial_ms, max_ms = (int(s * 1000) for s in self._reconnect_backoff_s)
        options = [
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.initial_reconnect_backoff_ms", initial_ms),
            ("grpc.min_reconnect_backoff_ms", initial_ms),
            ("grpc.max_reconnect_backoff_ms", max_ms),
        ]
        if self._tls:
            self._channel = grpc.aio.secure_channel(
                self._target, grpc.ssl_channel_credentials(self._root_certificates), options=options
            )
        else:
            self._channel = grpc.aio.insecure_channel(self._target, options=options)
        self._stub = pb_grpc.PubSubStub(self._channel)  # type: ignore[no-untyped-call]  # generated code
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    @property
    def stub(self) -> pb_grpc.PubSubStub:
        if self._stub is None:
            raise RuntimeError("PubSubClient is not open: use `async with`")
        return self._stub

    async def credentials(self, fresh: bool = False) -> Credentials:
        """The current credentials (a fresh login when `fresh`)."""
        return await self._credentials(fresh)

    async def metadata(self, fresh: bool = False) -> tuple[tuple[str, str], ...]:
        """The auth metadata every RPC carries."""
        creds = await self._credentials(fresh)
        return (
            ("accesstoken", creds.access_token),
            ("instanceurl", creds.instance_url),
            ("tenantid", creds.tenant_id),
        )

    async def get_schema(self, schema_id: str) -> str:
        """The writer schema's Avro JSON for `schema_id`."""
        try:
            info = await self.stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=await self.metadata())
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc) from None
        return str(info.schema_json)

    async def get_topic(self, topic_name: str) -> Any:
        """TopicInfo: permissions and the current schema id."""
        try:
            return await self.stub.GetTopic(pb.TopicRequest(topic_name=topic_name), metadata=await self.metadata())
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc) from None

    async def publish(self, topic_name: str, events: list[Any]) -> Any:
        """Publish ProducerEvents; the response holds one final result per event."""
        request = pb.PublishRequest(topic_name=topic_name, events=events)
        try:
            return await self.stub.Publish(request, metadata=await self.metadata())
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc) from None

    async def subscribe(
        self, topic_name: str, start: ReplayStart, *, fresh_login: bool = False
    ) -> AsyncIterator[FetchBatch]:
        """Stream FetchBatches until an error (raised as a PubSubError) or the caller stops iterating."""
        requests: asyncio.Queue[Any] = asyncio.Queue()
        first = pb.FetchRequest(
            topic_name=topic_name,
            replay_preset=start.preset,
            replay_id=start.replay_id,
            num_requested=self._num_requested,
        )
        await requests.put(first)

        async def outgoing() -> AsyncIterator[Any]:
            while (request := await requests.get()) is not None:
                yield request

        call = self.stub.Subscribe(outgoing(), metadata=await self.metadata(fresh_login))
        try:
            async for response in call:
                if response.pending_num_requested == 0:
                    await requests.put(pb.FetchRequest(topic_name=topic_name, num_requested=self._num_requested))
                yield FetchBatch(
                    tuple(response.events), bytes(response.latest_replay_id), response.pending_num_requested
                )
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc) from None
        finally:
            # End the request stream before cancelling: gRPC closing a request generator that is waiting on the
            # queue fails with "aclose(): asynchronous generator is already running" in a task nobody awaits.
            requests.put_nowait(None)
            await asyncio.sleep(0)
            call.cancel()
