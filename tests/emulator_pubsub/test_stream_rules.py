"""The emulator's Pub/Sub API holds the documented rules of Subscribe, PublishStream, auth and topics (raw gRPC)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import fastavro
import grpc
import orjson
import pytest

from bridge.emulator import Org
from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.pubsub_server import PubSubServer, StreamTimes
from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub._pb import pubsub_api_pb2_grpc as pb_grpc
from bridge.pubsub.avro import decode_payload, encode_payload

pytestmark = pytest.mark.timeout(30)

TENANT = "00D000000000001AAA"
TOPIC = "/event/Order_Shipped__e"
CHANGES = "/data/AccountChangeEvent"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AUTH = (("accesstoken", "token-1"), ("instanceurl", "https://emulator.example"), ("tenantid", TENANT))


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def feed(clock: Clock) -> PubSubFeed:
    feed = PubSubFeed(clock=clock, session_valid=lambda token: token == "token-1", tenant_id=TENANT)
    feed.register_entity("Account", [("Name", "string")])
    feed.register_platform_event("Order_Shipped__e", [("Order_Number__c", "string")])
    return feed


@pytest.fixture
async def stub(feed: PubSubFeed) -> AsyncIterator[Any]:
    times = StreamTimes(keepalive_s=0.2, idle_close_s=0.5, publish_idle_s=0.5)
    async with PubSubServer(feed, times=times) as server, grpc.aio.insecure_channel(server.target) as channel:
        yield pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]


def events(feed: PubSubFeed, n: int) -> list[int]:
    return [feed.append_platform_event("Order_Shipped__e", f"e-{i}", payload(feed, f"O-{i}")) for i in range(n)]


def payload(feed: PubSubFeed, number: str) -> dict[str, Any]:
    return {"CreatedDate": 1, "CreatedById": "005000000000001AAA", "Order_Number__c": number}


def producer_event(feed: PubSubFeed, number: str, event_id: str = "", *, pad: int = 0) -> Any:
    schema_id = feed.topic_schema_id(TOPIC)
    parsed = fastavro.parse_schema(orjson.loads(feed.schema_json(schema_id) or "{}"))
    body = encode_payload(parsed, {**payload(feed, number), "Order_Number__c": number + "x" * pad})
    return pb.ProducerEvent(id=event_id, schema_id=schema_id, payload=body)


async def failure(call: Any) -> tuple[grpc.StatusCode, str, str]:
    """Drain a call until it fails; its status, `error-code` trailer and details."""

    async def drain() -> None:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain()
    trailers = dict(caught.value.trailing_metadata() or ())
    return caught.value.code(), str(trailers.get("error-code", "")), str(caught.value.details())


def fetch(topic: str = TOPIC, n: int = 10, preset: int = pb.ReplayPreset.EARLIEST, replay_id: bytes = b"") -> Any:
    return pb.FetchRequest(topic_name=topic, replay_preset=preset, replay_id=replay_id, num_requested=n)


async def requests(*items: Any, hold_s: float = 5.0) -> AsyncIterator[Any]:
    """Send `items`, then keep the request stream open (a half-closed stream would end the call early)."""
    for item in items:
        yield item
        await asyncio.sleep(0.05)
    await asyncio.sleep(hold_s)


async def test_num_requested_above_100_counts_as_100(stub: Any, feed: PubSubFeed) -> None:
    """Allocations: "If a client requests more than 100 events, the server considers the number of requested events
    to be 100." Subscribe RPC: "Each FetchResponse contains the number of events that are pending delivery in the
    pending_num_requested field." """
    events(feed, 130)
    delivered = 0
    call = stub.Subscribe(requests(fetch(n=150)), metadata=AUTH)
    async for response in call:
        delivered += len(response.events)
        assert response.pending_num_requested == 100 - delivered
        if response.pending_num_requested == 0:
            break
    call.cancel()
    assert delivered == 100


async def test_num_requested_must_be_above_zero_first_and_later(stub: Any, feed: PubSubFeed) -> None:
    """FetchRequest: "Number of events a client is ready to accept"; a request for none is refused with
    `subscription.fetch.requested.events.invalid` (the Handle Errors table), on the first request and later ones."""
    first = await failure(stub.Subscribe(requests(fetch(n=0)), metadata=AUTH))
    events(feed, 1)
    later = await failure(stub.Subscribe(requests(fetch(n=1), pb.FetchRequest(num_requested=-1)), metadata=AUTH))
    for status, code, _ in (first, later):
        assert status == grpc.StatusCode.INVALID_ARGUMENT
        assert code == "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"


async def test_later_requests_cannot_change_the_topic_and_their_replay_fields_are_ignored(
    stub: Any, feed: PubSubFeed
) -> None:
    """The proto: "replay_preset and replay_id values are only consumed as part of the first FetchRequest"; "If any
    subsequent FetchRequest provides topic_name, it must match what was provided in the first FetchRequest;
    otherwise, the RPC returns an error with INVALID_ARGUMENT status." """
    ids = events(feed, 4)
    call = stub.Subscribe(requests(fetch(n=2), fetch(n=2, preset=pb.ReplayPreset.EARLIEST)), metadata=AUTH)
    seen: list[int] = []
    async for response in call:
        seen += [int.from_bytes(e.replay_id, "big") for e in response.events]
        if len(seen) >= 4:
            break
    call.cancel()
    assert seen == ids  # the second EARLIEST did not restart the stream: no event twice
    mismatch = stub.Subscribe(requests(fetch(n=1), pb.FetchRequest(topic_name=CHANGES, num_requested=1)), metadata=AUTH)
    status, code, _ = await failure(mismatch)
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert code.endswith("subscription.fetch.topic.mismatch")


async def test_custom_needs_a_valid_retained_replay_id(stub: Any, feed: PubSubFeed, clock: Clock) -> None:
    """ReplayPreset CUSTOM: "This must be set with a valid replay_id in the FetchRequest." Handle Errors: an invalid
    replay id fails with status INVALID_ARGUMENT and "[Trailer] = error-code [Value] =
    sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"; retention is 72 hours."""
    [old] = events(feed, 1)
    none = await failure(stub.Subscribe(requests(fetch(preset=pb.ReplayPreset.CUSTOM)), metadata=AUTH))
    assert none[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed",
    )
    malformed = fetch(preset=pb.ReplayPreset.CUSTOM, replay_id=b"1234")  # a decimal string, as users send by mistake
    clock.now_s += 73 * 3600
    events(feed, 1)
    expired = fetch(preset=pb.ReplayPreset.CUSTOM, replay_id=old.to_bytes(8, "big"))
    for request in (malformed, expired):
        status, code, details = await failure(stub.Subscribe(requests(request), metadata=AUTH))
        assert status == grpc.StatusCode.INVALID_ARGUMENT
        assert code == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
        assert details.startswith("The Replay ID validation failed.")
        assert "rpcId: " in details


async def test_keepalive_then_idle_close(stub: Any, feed: PubSubFeed) -> None:
    """The proto: "If there are no events to deliver, the server sends an empty batch fetch response with the latest
    replay ID ... within 270 seconds." Subscribe RPC: with pending_num_requested equal to zero "The client must send a
    new FetchRequest within 60 seconds from when the last FetchResponse" was sent, or the stream closes."""
    [newest] = events(feed, 1)
    call = stub.Subscribe(requests(fetch(n=1, preset=pb.ReplayPreset.LATEST), hold_s=10), metadata=AUTH)
    keepalive = await anext(aiter(call))
    assert list(keepalive.events) == []
    assert int.from_bytes(keepalive.latest_replay_id, "big") == newest
    assert keepalive.pending_num_requested == 1
    assert UUID.match(keepalive.rpc_id)
    feed.append_platform_event("Order_Shipped__e", "e-new", payload(feed, "new"))
    delivered = await anext(aiter(call))
    assert delivered.pending_num_requested == 0
    with pytest.raises(StopAsyncIteration):  # no credit and no new request: the server closes the stream
        await asyncio.wait_for(anext(aiter(call)), timeout=3)
    assert await call.code() == grpc.StatusCode.OK


async def test_tenantid_must_be_the_tokens_org(stub: Any) -> None:
    """The proto: "tenantid : tenant/org id of the client" goes with every RPC. A token of another org is refused
    as Salesforce refuses it: "UNAUTHENTICATED: An authentication exception occurred. Provide valid authentication
    via metadata headers." (sfdc.platform.eventbus.grpc.service.auth.error)."""
    other_org = (AUTH[0], AUTH[1], ("tenantid", "00D000000000002AAA"))
    status, code, details = await failure(stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=other_org))
    assert (status, code) == (grpc.StatusCode.UNAUTHENTICATED, "sfdc.platform.eventbus.grpc.service.auth.error")
    assert details.startswith(
        "An authentication exception occurred. Provide valid authentication via metadata headers."
    )
    fifteen = (AUTH[0], AUTH[1], ("tenantid", TENANT[:15]))
    assert (await stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=fifteen)).tenant_guid == TENANT
    status, code, _ = await failure(stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=AUTH[:2]))
    assert (status, code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "sfdc.platform.eventbus.grpc.service.auth.headers.invalid",
    )


async def test_change_channels_are_not_publishable(stub: Any, feed: PubSubFeed) -> None:
    """TopicInfo: "Is publishing allowed?" Change events are raised by the org's own changes; a change channel
    says `can_publish` false and a publish to it fails in the event's own PublishResult."""
    info = await stub.GetTopic(pb.TopicRequest(topic_name=CHANGES), metadata=AUTH)
    assert (info.can_publish, info.can_subscribe, info.tenant_guid) == (False, True, TENANT)
    response = await stub.Publish(
        pb.PublishRequest(topic_name=CHANGES, events=[producer_event(feed, "x")]), metadata=AUTH
    )
    assert response.results[0].error.code == pb.ErrorCode.PUBLISH


async def test_publish_stream_answers_each_request_with_results_per_event(stub: Any, feed: PubSubFeed) -> None:
    """PublishStream: "The server returns a PublishResponse for each PublishRequest"; "Each event message in a batch
    in a PublishRequest has a maximum size of 1 MB. If you publish a batch of events containing an event larger than
    1 MB, the PublishResult of that event contains an error ... Each event in the batch has its own PublishResult"."""
    big = producer_event(feed, "big", "k-big", pad=1024 * 1024)
    batch = [producer_event(feed, "A", "k-a"), big, producer_event(feed, "B", "k-b")]
    call = stub.PublishStream(
        requests(
            pb.PublishRequest(topic_name=TOPIC, events=batch), pb.PublishRequest(events=[producer_event(feed, "C")])
        ),
        metadata=AUTH,
    )
    first, second = [await anext(aiter(call)) for _ in range(2)]
    call.cancel()
    assert [r.correlation_key for r in first.results] == ["k-a", "k-big", "k-b"]
    assert [bool(r.replay_id) for r in first.results] == [True, False, True]
    assert "1 MB" in first.results[1].error.msg
    assert first.results[1].error.code == pb.ErrorCode.PUBLISH
    assert first.schema_id == feed.topic_schema_id(TOPIC)
    assert UUID.match(first.rpc_id)
    assert UUID.match(second.results[0].correlation_key)  # no id given: a system UUID
    stored = feed.read_after(TOPIC, 0, 10)
    parsed = fastavro.parse_schema(orjson.loads(feed.schema_json(first.schema_id) or "{}"))
    assert [decode_payload(parsed, e.payload)["Order_Number__c"] for e in stored] == ["A", "B", "C"]


async def test_publish_stream_topic_rules_and_idle_close(stub: Any, feed: PubSubFeed) -> None:
    """The proto: "If any subsequent PublishRequest provides topic_name, it must match what was provided in the first
    PublishRequest; otherwise, the RPC returns an error with INVALID_ARGUMENT status." and "A client must send a valid
    publish request with one or more events every 70 seconds to hold on to the stream. Otherwise, the server closes
    the stream and notifies the client." """
    other = pb.PublishRequest(topic_name=CHANGES, events=[producer_event(feed, "x")])
    mismatch = stub.PublishStream(
        requests(pb.PublishRequest(topic_name=TOPIC, events=[producer_event(feed, "a")]), other), metadata=AUTH
    )
    status, code, _ = await failure(mismatch)
    assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, "sfdc.platform.eventbus.grpc.publish.topic.mismatch")
    idle = stub.PublishStream(
        requests(pb.PublishRequest(topic_name=TOPIC, events=[producer_event(feed, "b")])), metadata=AUTH
    )
    status, code, _ = await failure(idle)
    assert code == "sfdc.platform.eventbus.grpc.publish.stream.sweeper.timeout"


def test_change_events_carry_salesforce_shaped_ids() -> None:
    """Change event header fields as documented: `transactionKey` like "00065380-d1a9-a64a-9341-14f6f12f674c",
    `commitNumber` the system change number (which "can exceed JavaScript's safe integer range"), `commitTimestamp`
    in epoch ms; and "For Pub/Sub API clients, the event id field contains the event UUID value"."""
    org = Org()
    org.insert_many("Account", [{"Name": "A"}, {"Name": "B"}])
    org.update_many("Account", [{"Id": r["Id"], "Industry": "Energy"} for r in org.rows("Account")])
    stored = org.feed.read_after("/data/ChangeEvents", 0, 10)
    parsed = fastavro.parse_schema(orjson.loads(org.feed.schema_json(stored[0].schema_id) or "{}"))
    headers = [decode_payload(parsed, e.payload)["ChangeEventHeader"] for e in stored]
    assert all(UUID.match(e.event_id) for e in stored)
    assert len({e.event_id for e in stored}) == len(stored)
    assert all(UUID.match(h["transactionKey"]) for h in headers)
    assert headers[-1]["changeType"] == "UPDATE"
    assert len(headers[-1]["recordIds"]) == 2
    numbers = [h["commitNumber"] for h in headers]
    assert numbers == sorted(numbers)
    assert numbers[0] > 2**53
    assert all(h["commitTimestamp"] > 1_600_000_000_000 for h in headers)
