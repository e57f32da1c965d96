"""The emulator's Pub/Sub API over a real gRPC socket, spoken to by the bridge's own client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fastavro
import grpc
import orjson
import pytest

from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.pubsub_server import PubSubServer
from bridge.pubsub._pb import pubsub_api_pb2 as pb
from bridge.pubsub.avro import decode_payload, encode_payload
from bridge.pubsub.bitmaps import decode_bitmap
from bridge.pubsub.client import Credentials, FetchBatch, PubSubClient, ReplayStart
from bridge.pubsub.errors import PubSubAuthError, PubSubUnavailable, ReplayIdInvalid, TopicNotFound

FIELDS = [("Name", "string"), ("Phone", "phone"), ("AnnualRevenue", "currency")]


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now_s


class Sessions:
    def __init__(self) -> None:
        self.valid = {"token-1"}

    def __call__(self, token: str) -> bool:
        return token in self.valid


def header(n: int, change_type: str = "UPDATE") -> dict[str, Any]:
    return {
        "entityName": "Account",
        "recordIds": [f"001{n:015d}"],
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/rest/62.0;client=crm-bridge",
        "transactionKey": f"tx-{n}",
        "sequenceNumber": 1,
        "commitTimestamp": 1_700_000_000_000 + n,
        "commitNumber": n,
        "commitUser": "005000000000001AAA",
        "changedFields": ["Name"],
        "nulledFields": [],
        "diffFields": [],
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions() -> Sessions:
    return Sessions()


@pytest.fixture
def feed(clock: Clock, sessions: Sessions) -> PubSubFeed:
    feed = PubSubFeed(clock=clock, session_valid=sessions)
    feed.register_entity("Account", FIELDS)
    feed.register_platform_event("Order_Shipped__e", [("Order_Number__c", "string")])
    return feed


@pytest.fixture
async def client(feed: PubSubFeed) -> AsyncIterator[PubSubClient]:
    tokens = iter(["token-1", "token-2", "token-3"])
    current = {"token": next(tokens)}

    async def credentials(fresh: bool) -> Credentials:
        if fresh:
            current["token"] = next(tokens)
        return Credentials(current["token"], "https://emulator.example", "00D000000000001AAA")

    async with (
        PubSubServer(feed, keepalive_s=0.3) as server,
        PubSubClient(server.target, credentials=credentials, tls=False, num_requested=2) as client,
    ):
        client.server = server  # type: ignore[attr-defined]
        yield client


async def take(client: PubSubClient, topic: str, start: ReplayStart, n_batches: int) -> list[FetchBatch]:
    batches = []
    async for batch in client.subscribe(topic, start):
        batches.append(batch)
        if len(batches) == n_batches:
            break
    return batches


async def test_earliest_delivers_in_order_with_flow_control(client: PubSubClient, feed: PubSubFeed) -> None:
    ids = [feed.append_change("Account", header(n), {"Name": f"A{n}"}) for n in range(5)]
    batches = await take(client, "/data/ChangeEvents", ReplayStart("EARLIEST"), 3)
    delivered = [int.from_bytes(e.replay_id, "big") for b in batches for e in b.events]
    assert delivered == ids
    assert [len(b.events) for b in batches] == [2, 2, 1]
    assert all(b.pending_num_requested in (0, 1) for b in batches)
    assert ids == sorted(ids)
    assert ids[1] - ids[0] > 1


async def test_payload_decodes_with_the_served_schema(client: PubSubClient, feed: PubSubFeed) -> None:
    feed.append_change("Account", header(1), {"Name": "Acme", "Phone": "555"})
    (batch,) = await take(client, "/data/AccountChangeEvent", ReplayStart("EARLIEST"), 1)
    event = batch.events[0].event
    schema = orjson.loads(await client.get_schema(event.schema_id))
    decoded = decode_payload(fastavro.parse_schema(schema), event.payload)
    assert decoded["Name"] == "Acme"
    assert decode_bitmap(schema, decoded["ChangeEventHeader"]["changedFields"]) == ["Name"]


async def test_custom_resumes_strictly_after_the_id(client: PubSubClient, feed: PubSubFeed) -> None:
    ids = [feed.append_change("Account", header(n), {}) for n in range(4)]
    (batch,) = await take(client, "/data/ChangeEvents", ReplayStart.after(ids[1].to_bytes(8, "big")), 1)
    assert [int.from_bytes(e.replay_id, "big") for e in batch.events] == ids[2:]


async def test_expired_replay_id_is_corrupted(client: PubSubClient, feed: PubSubFeed, clock: Clock) -> None:
    old = feed.append_change("Account", header(0), {})
    clock.now_s += 73 * 3600
    feed.append_change("Account", header(1), {})
    with pytest.raises(ReplayIdInvalid) as caught:
        await take(client, "/data/ChangeEvents", ReplayStart.after(old.to_bytes(8, "big")), 1)
    assert caught.value.error_code.endswith("subscription.fetch.replayid.corrupted")
    assert feed.count("/data/ChangeEvents") == 1


async def test_keepalive_carries_latest_replay_id(client: PubSubClient, feed: PubSubFeed) -> None:
    newest = feed.append_change("Account", header(0), {})
    (batch,) = await take(client, "/data/ChangeEvents", ReplayStart("LATEST"), 1)
    assert batch.events == ()
    assert int.from_bytes(batch.latest_replay_id, "big") == newest


async def test_expired_session_is_an_auth_error_and_a_fresh_login_works(
    client: PubSubClient, feed: PubSubFeed, sessions: Sessions
) -> None:
    feed.append_change("Account", header(0), {})
    sessions.valid = {"token-2"}
    with pytest.raises(PubSubAuthError):
        await take(client, "/data/ChangeEvents", ReplayStart("EARLIEST"), 1)
    batches = []
    async for batch in client.subscribe("/data/ChangeEvents", ReplayStart("EARLIEST"), fresh_login=True):
        batches.append(batch)
        break
    assert len(batches[0].events) == 1


async def test_unknown_topic_and_injected_outage(client: PubSubClient, feed: PubSubFeed) -> None:
    with pytest.raises(TopicNotFound):
        await take(client, "/data/NopeChangeEvent", ReplayStart("EARLIEST"), 1)
    for n in range(3):
        feed.append_change("Account", header(n), {})
    client.server.faults.fail_after_events = 2  # type: ignore[attr-defined]
    with pytest.raises(PubSubUnavailable):
        await take(client, "/data/ChangeEvents", ReplayStart("EARLIEST"), 5)


async def test_publish_platform_event_then_subscribe(client: PubSubClient, feed: PubSubFeed) -> None:
    topic = await client.get_topic("/event/Order_Shipped__e")
    parsed = fastavro.parse_schema(orjson.loads(await client.get_schema(topic.schema_id)))
    payload = encode_payload(parsed, {"CreatedDate": 1, "CreatedById": "005", "Order_Number__c": "O-1"})
    bad = pb.ProducerEvent(id="e-2", schema_id="nope", payload=b"")
    response = await client.publish(
        "/event/Order_Shipped__e", [pb.ProducerEvent(id="e-1", schema_id=topic.schema_id, payload=payload), bad]
    )
    assert response.results[0].replay_id
    assert response.results[0].correlation_key == "e-1"
    assert response.results[1].error.code == pb.ErrorCode.PUBLISH
    (batch,) = await take(client, "/event/Order_Shipped__e", ReplayStart("EARLIEST"), 1)
    assert decode_payload(parsed, batch.events[0].event.payload)["Order_Number__c"] == "O-1"


async def test_missing_auth_metadata_is_refused(feed: PubSubFeed) -> None:
    from bridge.pubsub._pb import pubsub_api_pb2_grpc as pb_grpc

    async with PubSubServer(feed) as server, grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTopic(pb.TopicRequest(topic_name="/data/ChangeEvents"))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        trailers = dict(caught.value.trailing_metadata() or ())
        assert trailers["error-code"].endswith("service.auth.headers.invalid")
