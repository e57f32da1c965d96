"""The typed ChangeStream reader against a real broker: committed records only, skips, echoes, commits, patterns."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bridge.config import KafkaSettings, Settings, SourceSettings, TopicSettings
from bridge.emulator import Org
from bridge.emulator.server import EmulatorServer
from bridge.events.envelope import CloudEvent, encode_kafka
from bridge.pubsub.client import Credentials
from bridge.source.changes import ChangeEvent, full_state_event, to_cloud_event
from bridge.source.reader import ChangeStream
from bridge.source.runner import run_source
from tests.conftest import NewTopicFactory
from tests.source.conftest import wait_for_checkpoint

pytestmark = [pytest.mark.kafka]

Raw = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def change(n: int, *, name: str = "", origin: str = "", echo: bool = False) -> ChangeEvent:
    return ChangeEvent(
        entity="Account",
        change_type="UPDATE",
        record_ids=(f"001{n % 3:015d}",),
        fields={"Name": name or f"name-{n}"},
        changed_fields=("Name",),
        change_origin=origin,
        transaction_key=f"tx-{n}",
        sequence_number=1,
        commit_timestamp_ms=1_700_000_000_000 + n,
        commit_number=n,
        commit_user="005000000000001AAA",
        replay_id=f"{n:016x}",
        channel="/data/ChangeEvents",
        is_echo=echo,
    )


def raw(event: ChangeEvent) -> Raw:
    record = encode_kafka(to_cloud_event(event, source="salesforce:pubsub/data/ChangeEvents"))
    return record.key, record.value, list(record.headers)


async def produce(bootstrap: str, topic: str, records: Sequence[Raw], *, abort: bool = False) -> None:
    """Write records in one transaction; `abort` leaves them in the log but never committed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"reader-test-{uuid.uuid4().hex}")
    await producer.start()
    try:
        await producer.begin_transaction()
        for key, value, headers in records:
            await producer.send(topic, value, key=key, headers=headers)
        if abort:
            await producer.abort_transaction()
        else:
            await producer.commit_transaction()
    finally:
        await producer.stop()


async def drain(stream: ChangeStream, expect: int, *, quiet_s: float = 1.0) -> list[ChangeEvent]:
    """Read until `expect` events arrived and the stream then stayed quiet for one poll (or 20 polls passed)."""
    events: list[ChangeEvent] = []
    for _ in range(20):
        event = await stream.next_event(timeout_s=quiet_s)
        if event is None and len(events) >= expect:
            break
        if event is not None:
            events.append(event)
    return events


def group() -> str:
    return f"reader-{uuid.uuid4().hex[:8]}"


async def test_yields_the_typed_events_the_source_wrote(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic = await new_topic("crm.cdc.Account", partitions=1)
    snapshot = full_state_event("Account", {"Id": "001000000000000009", "Name": "now"}, channel="c", now_ms=5)
    written = [change(1), change(2, name="Ünïcode ✓"), snapshot]
    await produce(kafka_bootstrap, topic, [raw(e) for e in written])
    async with ChangeStream(kafka_bootstrap, [topic], group()) as stream:
        events = await drain(stream, 3)
    assert [(e.event_id, dict(e.fields), e.full_state) for e in events] == [
        (e.event_id, dict(e.fields), e.full_state) for e in written
    ]
    assert events[0].changed_fields == ("Name",)
    assert events[0].commit_number == 1
    assert stream.delivered == 3
    assert not stream.skipped


async def test_aborted_transactions_are_never_seen(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic = await new_topic("crm.cdc.Account")
    await produce(kafka_bootstrap, topic, [raw(change(1, name="aborted"))], abort=True)
    await produce(kafka_bootstrap, topic, [raw(change(2, name="committed"))])
    async with ChangeStream(kafka_bootstrap, [topic], group()) as stream:
        events = await drain(stream, 1)
    assert [e.fields["Name"] for e in events] == ["committed"]


async def test_malformed_records_are_skipped_and_counted(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic = await new_topic("crm.cdc.Account")
    foreign = encode_kafka(CloudEvent(id="x", source="erp", type="com.acme.order", data={"a": 1}))
    no_data = encode_kafka(to_cloud_event(change(3), source="s")._replace(data={"entity": "Account"}))
    junk: list[Raw] = [
        (b"k", b"not json at all", []),
        (b"k", b'{"a": 1}', [("ce_id", b"\xff\xfe")]),
        (foreign.key, foreign.value, list(foreign.headers)),
        (no_data.key, no_data.value, list(no_data.headers)),
    ]
    await produce(kafka_bootstrap, topic, [raw(change(1)), *junk, raw(change(2))])
    async with ChangeStream(kafka_bootstrap, [topic], group()) as stream:
        events = await drain(stream, 2)
    assert [e.transaction_key for e in events] == ["tx-1", "tx-2"]
    assert stream.skipped == {"malformed": 4}


async def test_echoes_are_left_out_unless_asked_for(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    topic = await new_topic("crm.cdc.Account")
    await produce(kafka_bootstrap, topic, [raw(change(1, echo=True)), raw(change(2)), raw(change(3, echo=True))])
    async with ChangeStream(kafka_bootstrap, [topic], group()) as stream:
        plain = await drain(stream, 1)
    async with ChangeStream(kafka_bootstrap, [topic], group(), include_echoes=True) as stream:
        everything = await drain(stream, 3)
    assert [e.transaction_key for e in plain] == ["tx-2"]
    assert stream.skipped == {}
    assert [(e.transaction_key, e.is_echo) for e in everything] == [("tx-1", True), ("tx-2", False), ("tx-3", True)]


async def test_commit_covers_what_was_handed_out_and_nothing_more(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    topic = await new_topic("crm.cdc.Account")
    await produce(kafka_bootstrap, topic, [raw(change(n)) for n in range(1, 7)])
    group_id = group()
    async with ChangeStream(kafka_bootstrap, [topic], group_id) as stream:
        first = [await stream.next_event(timeout_s=5) for _ in range(2)]
        await stream.commit()
        uncommitted = await stream.next_event(timeout_s=5)  # handed out, but the caller never commits it
    async with ChangeStream(kafka_bootstrap, [topic], group_id) as stream:
        rest = await drain(stream, 4)
    assert [e.transaction_key for e in first if e] == ["tx-1", "tx-2"]
    assert uncommitted is not None
    assert uncommitted.transaction_key == "tx-3"
    assert [e.transaction_key for e in rest] == ["tx-3", "tx-4", "tx-5", "tx-6"]


async def test_a_pattern_subscribes_to_every_matching_topic(kafka_bootstrap: str, new_topic: NewTopicFactory) -> None:
    run = uuid.uuid4().hex[:6]
    accounts = await new_topic(f"r{run}.crm.cdc.Account")
    contacts = await new_topic(f"r{run}.crm.cdc.Contact")
    other = await new_topic(f"r{run}.crm.events.Order__e")
    await produce(kafka_bootstrap, accounts, [raw(change(1))])
    await produce(kafka_bootstrap, contacts, [raw(change(2))])
    await produce(kafka_bootstrap, other, [raw(change(3))])
    async with ChangeStream(kafka_bootstrap, rf"r{run}\.crm\.cdc\..*", group()) as stream:
        events = await drain(stream, 2, quiet_s=2.0)
    assert sorted(e.transaction_key for e in events) == ["tx-1", "tx-2"]


async def test_iterating_a_closed_stream_is_refused(kafka_bootstrap: str) -> None:
    stream = ChangeStream(kafka_bootstrap, ["crm.cdc.Account"], group())
    with pytest.raises(RuntimeError, match="async with"):
        await stream.next_event()


def oauth_login(server: EmulatorServer) -> Callable[[bool], Awaitable[Credentials]]:
    """The source's credentials: a client-credentials login against the emulator, kept until refused."""
    current: list[Credentials] = []

    async def provide(fresh: bool) -> Credentials:
        if fresh or not current:
            form = {
                "grant_type": "client_credentials",
                "client_id": "emulator-client-id",
                "client_secret": "emulator-client-secret",
            }
            async with httpx.AsyncClient(base_url=server.url) as http:
                token = (await http.post("/services/oauth2/token", data=form)).raise_for_status().json()
            current[:] = [Credentials(token["access_token"], token["instance_url"], server.org.profile.org_id)]
        return current[0]

    return provide


class _NoReads:
    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]:
        raise AssertionError("no reconciliation expected")

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        raise AssertionError("no reconciliation expected")


async def test_emulator_writes_reach_the_reader_with_echoes_tagged(kafka_bootstrap: str) -> None:
    """The whole path: writes to the emulated org, its Pub/Sub API, the source, Kafka, ChangeStream."""
    org = Org()
    run = uuid.uuid4().hex[:8]
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub_target is not None
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
            topics=TopicSettings(cdc_prefix=f"e{run}.crm.cdc.", source_checkpoints=f"e{run}.checkpoints"),
            source=SourceSettings(pubsub_target=server.pubsub_target, pubsub_tls=False, transactional_id=f"e{run}"),
        )
        [ours] = org.insert_many("Account", [{"Name": "Written by the bridge"}], client="crm-bridge")
        [theirs] = org.insert_many("Account", [{"Name": "Written by the ERP"}], client="erp-sync")
        org.update_many("Account", [{"Id": theirs["id"], "Phone": "555 0100"}], client="erp-sync")
        stop = asyncio.Event()
        source = asyncio.create_task(
            run_source(settings, credentials=oauth_login(server), reconciler=_NoReads(), stop=stop)
        )
        topic = f"{settings.topics.cdc_prefix}Account"
        try:
            await wait_for_checkpoint(settings, org.feed.latest("/data/ChangeEvents"))
            async with ChangeStream(kafka_bootstrap, [topic], group()) as stream:
                events = await drain(stream, 2)
            async with ChangeStream(kafka_bootstrap, [topic], group(), include_echoes=True) as stream:
                everything = await drain(stream, 3)
        finally:
            stop.set()
            await asyncio.wait_for(source, timeout=10)
    assert [(e.change_type, e.record_ids) for e in events] == [
        ("CREATE", (theirs["id"],)),
        ("UPDATE", (theirs["id"],)),
    ]
    assert events[1].fields["Phone"] == "555 0100"
    assert stream.skipped == {}
    # Different records may sit on different partitions: only per-record order is defined.
    assert sorted((e.record_ids[0], e.change_type, e.is_echo) for e in everything) == sorted(
        [(ours["id"], "CREATE", True), (theirs["id"], "CREATE", False), (theirs["id"], "UPDATE", False)]
    )
