"""The bridge's EventPublisher against the emulator's Pub/Sub API over a real socket: per-event results, and a lost
answer that never becomes a second event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import fastavro
import orjson
import pytest
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.emulator import EmulatorServer, Org
from bridge.pubsub.avro import decode_payload
from bridge.pubsub.client import PubSubClient
from bridge.pubsub.publisher import EventPublisher, OutgoingEvent
from bridge.runtime.salesforce_roles import ClientCredentials
from bridge.salesforce import SalesforceClient, auth_from_settings

pytestmark = pytest.mark.timeout(60)

TOPIC = "/event/Order_Event__e"


@dataclass
class Stack:
    org: Org
    server: EmulatorServer
    publisher: EventPublisher


@asynccontextmanager
async def stack(org: Org | None = None, **publisher: float) -> AsyncIterator[Stack]:
    """The emulator (REST and Pub/Sub), the real REST client for the session, and a publisher on them."""
    org = org or Org()
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub_target is not None
        settings = SalesforceSettings(
            login_url=server.url,
            client_id="emulator-client-id",
            client_secret=SecretStr("emulator-client-secret"),
            auth_flow="client_credentials",
        )
        async with SalesforceClient(settings, auth_from_settings(settings)) as client:
            credentials = ClientCredentials(client, None)
            async with PubSubClient(server.pubsub_target, credentials=credentials, tls=False) as pubsub:
                events = EventPublisher(pubsub, verify_timeout_s=publisher.get("verify_timeout_s", 5.0))
                try:
                    yield Stack(org, server, events)
                finally:
                    await events.aclose()


def on_bus(org: Org) -> list[tuple[str, str]]:
    """(event id, order number) of every event retained on the topic."""
    stored = org.feed.read_after(TOPIC, 0, 1000)
    if not stored:
        return []
    parsed = fastavro.parse_schema(orjson.loads(org.feed.schema_json(stored[0].schema_id) or "{}"))
    return [(e.event_id, decode_payload(parsed, e.payload)["Order_Number__c"]) for e in stored]


def order(key: str, number: str) -> OutgoingEvent:
    return OutgoingEvent(key, {"Order_Number__c": number, "Status__c": "Shipped"})


async def test_each_event_gets_its_own_result() -> None:
    """Publish RPC: "The PublishResponse holds a PublishResult for each event published that indicates success or
    failure"; a record that cannot be encoded with the topic's schema fails alone, without a call."""
    async with stack() as s:
        bad = OutgoingEvent("k-bad", {"Order_Number__c": "O-bad", "Amount__c": "not a number"})
        outcomes = await s.publisher.publish_events("Order_Event__e", [order("k-1", "O-1"), bad, order("k-2", "O-2")])
        bus = on_bus(s.org)
    assert [o.correlation_key for o in outcomes] == ["k-1", "k-bad", "k-2"]
    assert [o.published for o in outcomes] == [True, False, True]
    assert "schema" in (outcomes[1].error or "")
    assert bus == [("k-1", "O-1"), ("k-2", "O-2")]  # the correlation key is the event's id on the bus
    assert [o.replay_id for o in outcomes if o.published] == [
        e.replay_id.to_bytes(8, "big") for e in s.org.feed.read_after(TOPIC, 0, 10)
    ]


@pytest.mark.parametrize("fenced", [False, True], ids=["first-publish", "after-a-fence"])
async def test_lost_answer_is_found_on_the_bus_not_sent_again(fenced: bool) -> None:
    """The stream breaks after the server published but before its answer arrived. Salesforce documents no
    deduplication by ProducerEvent id ("Either a user-provided ID or a system generated guid"), so the publisher
    reads the topic after its fence, finds both events by their correlation keys, and sends nothing again."""
    async with stack() as s:
        if fenced:
            await s.publisher.publish_events("Order_Event__e", [order("k-0", "O-0")])
        assert s.server.pubsub is not None
        s.server.pubsub.faults.drop_publish_responses = 1
        outcomes = await s.publisher.publish_events("Order_Event__e", [order("k-1", "O-1"), order("k-2", "O-2")])
        again = await s.publisher.publish_events("Order_Event__e", [order("k-3", "O-3")])  # a new stream works
        bus = on_bus(s.org)
        streams = s.server.pubsub.faults.publish_streams_opened
    assert [(o.correlation_key, o.published, o.verified) for o in outcomes] == [
        ("k-1", True, True),
        ("k-2", True, True),
    ]
    assert again[0].published
    expected = [("k-0", "O-0")] if fenced else []
    assert bus == [*expected, ("k-1", "O-1"), ("k-2", "O-2"), ("k-3", "O-3")]  # each event once
    assert s.publisher.verified == 2
    assert s.publisher.resent == 0
    assert streams == 2


async def test_events_that_never_landed_are_sent_again_once() -> None:
    """A stream refused before publishing (the session expired: "An authentication exception occurred") leaves
    its events in doubt; the read after the fence finds none of them, so they are sent again, after a fresh login,
    and each is on the bus once."""
    async with stack(verify_timeout_s=1.0) as s:
        await s.publisher.publish_events("Order_Event__e", [order("k-0", "O-0")])
        s.org.sessions.expire()  # the next request on the open stream is refused
        outcomes = await s.publisher.publish_events("Order_Event__e", [order("k-1", "O-1")])
        bus = on_bus(s.org)
    assert outcomes[0].published
    assert not outcomes[0].verified
    assert bus == [("k-0", "O-0"), ("k-1", "O-1")]
    assert s.publisher.resent == 1
