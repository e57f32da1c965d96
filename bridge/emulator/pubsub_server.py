"""The emulator's Pub/Sub API: a gRPC server over the org's retained change events and Platform Events.

It follows the documented behaviour (the official `pubsub_api.proto`, whose comments are part of the contract, and
the Pub/Sub API guide):

- auth metadata on every RPC (`accesstoken`, `instanceurl`, `tenantid`); a missing one is
  `service.auth.headers.invalid`, an unknown or expired token, or a `tenantid` that is not the token's org, is
  UNAUTHENTICATED `service.auth.error` ("An authentication exception occurred. Provide valid authentication via
  metadata headers.");
- GetTopic fills `topic_name`, `tenant_guid`, `can_publish`, `can_subscribe`, `schema_id` and `rpc_id`; GetSchema and
  every response carry an `rpc_id`;
- Publish and PublishStream return "a PublishResult for each event", each with its `correlation_key` and either a
  `replay_id` or its own error; PublishStream answers each request in order, takes its topic from the first request
  (a different later one is INVALID_ARGUMENT), and closes a stream that sent no valid request with events for 70 s;
- Subscribe follows the stream rules in `bridge.emulator.pubsub_subscribe`;
- served in plaintext, or over TLS with the emulator's certificate (`bridge.emulator.tls`).

ManagedSubscribe (beta) is not served: it answers UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from bridge.emulator.pubsub_contract import (
    AUTH_ERROR_MESSAGE,
    ChangeFeed,
    FeedEvent,
    PublishOutcome,
    PubSubFaults,
    StreamTimes,
    abort,
    new_rpc_id,
    replay_bytes,
)
from bridge.emulator.pubsub_subscribe import SubscribeStream
from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub._pb import pubsub_api_pb2_grpc as pb_grpc

__all__ = ["ChangeFeed", "FeedEvent", "PubSubFaults", "PubSubServer", "PubSubServicer", "StreamTimes"]

_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_AUTH_HEADERS = ("accesstoken", "instanceurl", "tenantid")


class PubSubServicer(pb_grpc.PubSubServicer):
    """The PubSub service over a `ChangeFeed`."""

    def __init__(self, feed: ChangeFeed, *, times: StreamTimes, faults: PubSubFaults) -> None:
        self._feed = feed
        self._times = times
        self._faults = faults

    async def _authorized(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Abort the call unless its metadata holds a live session of this org."""
        metadata: Mapping[str, Any] = dict(context.invocation_metadata() or ())
        missing = [name for name in _AUTH_HEADERS if not str(metadata.get(name, "")).strip()]
        if missing:
            message = f"Missing or blank authentication metadata headers: {', '.join(missing)}."
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.headers.invalid", message)
        valid = self._feed.session_valid(str(metadata["accesstoken"]))
        if not valid or not self._feed.tenant_matches(str(metadata["tenantid"])):
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", AUTH_ERROR_MESSAGE)

    async def _topic_known(self, topic: str, context: Any) -> None:
        if not topic:
            await abort(context, _INVALID, "topic.validation.empty", "The topic name is empty.")
        if not self._feed.topic_exists(topic):
            await abort(context, grpc.StatusCode.NOT_FOUND, "topic.not.found", f"Topic {topic} not found.")

    async def GetTopic(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        await self._topic_known(request.topic_name, context)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self._feed.tenant_id,
            can_publish=self._feed.can_publish(request.topic_name),
            can_subscribe=True,
            schema_id=self._feed.topic_schema_id(request.topic_name),
            rpc_id=new_rpc_id(),
        )

    async def GetSchema(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        schema_json = self._feed.schema_json(request.schema_id)
        if schema_json is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, "schema.validation.failed", "Unknown schema id.")
        return pb.SchemaInfo(schema_json=schema_json, schema_id=request.schema_id, rpc_id=new_rpc_id())

    async def Publish(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC name
        await self._authorized(context)
        await self._topic_known(request.topic_name, context)
        return self._publish(request.topic_name, request.events)

    def _publish(self, topic: str, events: Sequence[Any]) -> Any:
        results = [_result(outcome) for outcome in self._feed.publish(topic, events)]
        return pb.PublishResponse(results=results, schema_id=self._feed.topic_schema_id(topic), rpc_id=new_rpc_id())

    async def PublishStream(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        await self._authorized(context)
        self._faults.publish_streams_opened += 1
        requests = aiter(request_iterator)
        topic = ""
        while True:
            try:
                request = await asyncio.wait_for(anext(requests), timeout=self._times.publish_idle_s)
            except StopAsyncIteration:
                return
            except TimeoutError:
                message = f"No publish request with events for {self._times.publish_idle_s:g} s: stream closed."
                await abort(context, grpc.StatusCode.UNAVAILABLE, "publish.stream.sweeper.timeout", message)
            topic = await self._stream_topic(topic, request, context)
            response = await self._stream_publish(topic, request, context)
            yield response

    async def _stream_topic(self, topic: str, request: Any, context: Any) -> str:
        if not topic:
            await self._topic_known(request.topic_name, context)
            return str(request.topic_name)
        if request.topic_name and request.topic_name != topic:
            message = f"The topic {request.topic_name} differs from the stream's topic {topic}."
            await abort(context, _INVALID, "publish.topic.mismatch", message)
        return topic

    async def _stream_publish(self, topic: str, request: Any, context: Any) -> Any:
        if not request.events:
            await abort(context, _INVALID, "publish.event.count.invalid", "A publish request needs one or more events.")
        token = str(dict(context.invocation_metadata() or ()).get("accesstoken", ""))
        if not self._feed.session_valid(token):
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", AUTH_ERROR_MESSAGE)
        response = self._publish(topic, request.events)
        if self._faults.drop_publish_responses > 0:
            self._faults.drop_publish_responses -= 1
            await abort(context, grpc.StatusCode.UNAVAILABLE, None, "connection reset after the publish")
        return response

    async def Subscribe(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802 - the RPC name
        await self._authorized(context)
        async for response in SubscribeStream(self._feed, self._times, self._faults).run(request_iterator, context):
            yield response


def _result(outcome: PublishOutcome) -> Any:
    if outcome.replay_id is not None:
        return pb.PublishResult(replay_id=replay_bytes(outcome.replay_id), correlation_key=outcome.correlation_key)
    error = pb.Error(code=pb.ErrorCode.PUBLISH, msg=outcome.error or "publish failed")
    return pb.PublishResult(error=error, correlation_key=outcome.correlation_key)


class PubSubServer:
    """Serves the PubSub service on a loopback port: `async with PubSubServer(feed) as server: server.target`.

    With `tls=(certfile, keyfile)` the port speaks TLS only, as `api.pubsub.salesforce.com` does; clients trust
    the certificate file (`grpc.ssl_channel_credentials(root_certificates=...)`).
    """

    def __init__(
        self,
        feed: ChangeFeed,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_s: float = 270.0,
        times: StreamTimes | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.faults = PubSubFaults()
        chosen = times or StreamTimes(keepalive_s=keepalive_s)
        self._servicer = PubSubServicer(feed, times=chosen, faults=self.faults)
        self._host = host
        self._port = port
        self._tls = tls
        self._server: grpc.aio.Server | None = None
        self.target = ""

    def __repr__(self) -> str:
        return f"PubSubServer(target={self.target!r}, tls={self._tls is not None})"

    async def __aenter__(self) -> PubSubServer:
        # Accept the client keepalive pings that long-lived subscriptions send (the real service does); gRPC's
        # default policy answers pings more often than every 5 minutes with GOAWAY "too_many_pings".
        options = [
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
        self._server = grpc.aio.server(options=options)
        pb_grpc.add_PubSubServicer_to_server(self._servicer, self._server)  # type: ignore[no-untyped-call]
        address = f"{self._host}:{self._port}"
        if self._tls is None:
            port = self._server.add_insecure_port(address)
        else:
            certfile, keyfile = self._tls
            credentials = grpc.ssl_server_credentials([(keyfile.read_bytes(), certfile.read_bytes())])
            port = self._server.add_secure_port(address, credentials)
        await self._server.start()
        self.target = f"{self._host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.stop(grace=0.5)
            self._server = None
