"""What the emulator's Pub/Sub server and its feed share: the event shape, the feed protocol, coded errors, faults.

Errors are answered as Salesforce documents them: a gRPC status, the custom code in the `error-code` trailer
("The Pub/Sub API adds a custom error code in the Trailers section of the exception"), and an RPC id both in the
trailers and "appended to the error message after the `rpcId:` prefix".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

PREFIX = "sfdc.platform.eventbus.grpc."
MAX_PENDING = 100
AUTH_ERROR_MESSAGE = "An authentication exception occurred. Provide valid authentication via metadata headers."


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One retained event as the server sends it."""

    replay_id: int
    event_id: str
    schema_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What publishing one event did: its correlation key, and its replay id or the error message."""

    correlation_key: str
    replay_id: int | None
    error: str | None


class ChangeFeed(Protocol):
    """What the server needs from the org: retained events per topic, schemas, sessions and the org's id."""

    tenant_id: str

    def topic_exists(self, topic: str) -> bool: ...

    def can_publish(self, topic: str) -> bool: ...

    def topic_schema_id(self, topic: str) -> str: ...

    def schema_json(self, schema_id: str) -> str | None: ...

    def latest(self, topic: str) -> int: ...

    def earliest(self, topic: str) -> int: ...

    def is_retained(self, topic: str, replay_id: int) -> bool: ...

    def read_after(self, topic: str, replay_id: int, limit: int) -> Sequence[FeedEvent]: ...

    async def wait_after(self, topic: str, replay_id: int, timeout_s: float) -> None: ...

    def session_valid(self, access_token: str) -> bool: ...

    def tenant_matches(self, tenant_id: str) -> bool: ...

    def publish(self, topic: str, events: Sequence[Any]) -> list[PublishOutcome]: ...


@dataclass
class PubSubFaults:
    """Faults tests inject.

    `fail_after_events`: end the next subscription with a coded error after N events. `drop_publish_responses`:
    publish the next N PublishStream requests, then break the stream before their answer is sent (a response
    lost in transit: the events are on the bus, the client cannot know it).
    """

    fail_after_events: int | None = None
    fail_code: str = "service.unavailable"
    fail_status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    drop_publish_responses: int = 0
    streams_opened: int = 0
    publish_streams_opened: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamTimes:
    """The documented stream timings (seconds); tests shorten them."""

    keepalive_s: float = 270.0  # "The empty fetch response is sent within 270 seconds."
    idle_close_s: float = 60.0  # "The client must send a new FetchRequest within 60 seconds"
    publish_idle_s: float = 70.0  # "A client must send a valid publish request with one or more events every 70 s"


def replay_bytes(value: int) -> bytes:
    """The emulator's replay id encoding: an unsigned 64-bit big-endian counter (as observed on the real API)."""
    return value.to_bytes(8, "big")


def new_rpc_id() -> str:
    """An RPC id for tracing, as every response carries one."""
    return str(uuid.uuid4())


async def abort(
    context: grpc.aio.ServicerContext[Any, Any], status: grpc.StatusCode, code: str | None, message: str
) -> None:
    """End the call with `status`, the `error-code` trailer (unless `code` is None: a broken connection has none)
    and the RPC id in the trailers and after `rpcId:` in the message."""
    rpc_id = new_rpc_id()
    trailers = [("rpc-id", rpc_id)]
    if code is not None:
        trailers.insert(0, ("error-code", PREFIX + code))
    context.set_trailing_metadata(tuple(trailers))
    await context.abort(status, f"{message} rpcId: {rpc_id}")
