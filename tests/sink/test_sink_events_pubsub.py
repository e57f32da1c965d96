"""The sink publishes Platform Events over PublishStream (real broker, the emulator over sockets): an outcome per
record, and an answer lost in transit is one event on the bus, not two."""

import fastavro
import orjson
import pytest
from prometheus_client import CollectorRegistry

from bridge.config import GovernorSettings
from bridge.emulator import EmulatorServer, Org
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.pubsub.avro import decode_payload
from bridge.pubsub.client import PubSubClient
from bridge.pubsub.publisher import EventPublisher
from bridge.runtime.salesforce_roles import ClientCredentials, SinkWriter
from bridge.salesforce import SalesforceClient, auth_from_settings
from bridge.sink.executor import correlation_key
from bridge.sink.runner import build_gate
from bridge.types import Lane
from tests.conftest import NewTopicFactory
from tests.sink.harness import CLIENT_ID, CLIENT_SECRET, outcomes, produce, run_burst, sink_settings

pytestmark = pytest.mark.kafka

TOPIC = "/event/Order_Event__e"


def order_event(number: str, **fields: object) -> MappedRecord:
    body = {"Order_Number__c": number, "Status__c": "Shipped", **fields}
    return MappedRecord("Order_Event__e", "Order_Number__c", number, body, Lane.REALTIME, 1, (f"evt-{number}",))


def bus(org: Org) -> list[tuple[str, str]]:
    stored = org.feed.read_after(TOPIC, 0, 1000)
    parsed = fastavro.parse_schema(orjson.loads(org.feed.schema_json(stored[0].schema_id) or "{}")) if stored else None
    return [(e.event_id, decode_payload(parsed, e.payload)["Order_Number__c"]) for e in stored]


async def test_platform_events_over_publish_stream_with_a_lost_answer(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    """PublishStream: "PublishResponse holds a PublishResult for each event published that indicates success or
    failure of the publish. A client can then retry the publish as needed". The retry after a lost answer is the
    bridge's to make safe: each record's event carries a correlation key derived from the record, and events found
    on the bus under their key are not sent again."""
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1, governor=GovernorSettings())
    records = [order_event(f"ORD-{n}") for n in range(6)]
    records.append(order_event("ORD-BAD", Amount__c="twelve"))  # not a number: refused by the event's schema
    await produce(settings, records)
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub is not None
        assert server.pubsub_target is not None
        server.pubsub.faults.drop_publish_responses = 2  # two answers lost in transit, the events published
        sf_settings = settings.salesforce.model_copy(
            update={
                "login_url": server.url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_flow": "client_credentials",
            }
        )
        async with SalesforceClient(sf_settings, auth_from_settings(sf_settings), on_limit_info=gate.observe) as client:
            pubsub = PubSubClient(server.pubsub_target, credentials=ClientCredentials(client, None), tls=False)
            async with pubsub:
                publisher = EventPublisher(pubsub, verify_timeout_s=5.0)
                try:
                    await run_burst(settings, SinkWriter(client, publisher), metrics, gate=gate)
                finally:
                    await publisher.aclose()
    out = await outcomes(settings)
    assert sorted(out.written_ids) == [f"ORD-{n}" for n in range(6)]
    keys = {r.external_id: correlation_key(r) for r in records}
    assert {doc["external_id"]: doc["id"] for doc in out.results} == {f"ORD-{n}": keys[f"ORD-{n}"] for n in range(6)}
    assert [(d.reason, orjson.loads(d.detail)["message"].split(":")[0]) for d in out.dead] == [
        ("PUBLISH_FAILED", "the event does not match the schema of Order_Event__e")
    ]
    on_bus = bus(org)
    assert sorted(number for _, number in on_bus) == [f"ORD-{n}" for n in range(6)]  # each event exactly once
    assert {event_id for event_id, _ in on_bus} == {keys[f"ORD-{n}"] for n in range(6)}
    assert publisher.verified == 2
    assert not [e for e in org.call_log if e.path.endswith("/sobjects/Order_Event__e")]  # no REST publish
