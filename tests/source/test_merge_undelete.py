"""Merges and undeletes through the source: each record its own event on Kafka, echoes tagged, UNDELETE with fields.

Salesforce merges identical changes into one event: "If in one transaction the same change occurred in
multiple records of the same object type during one second, Salesforce merges the change notifications ... the
recordIds field contains the IDs for all records that have the same change" (ChangeEventHeader fields), which
is what the two losers of a merge share. A merge "fire[s] a single delete event for all records that are
deleted in the merge" and "a single update event for the winning record" (Apex, Triggers and Merge
Statements); an UNDELETE event carries the restored record's fields.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.config import KafkaSettings, Settings, SourceSettings, TopicSettings
from bridge.emulator import Org
from bridge.emulator.server import EmulatorServer
from bridge.events.envelope import encode_kafka
from bridge.source.changes import ChangeEvent, decode_change_record, per_record, to_cloud_event
from bridge.source.reader import ChangeStream
from bridge.source.runner import run_source
from tests.source.conftest import wait_for_checkpoint
from tests.source.test_reader import _NoReads, drain, group, oauth_login

LOSERS = ("001000000000001AAA", "001000000000002AAA")


def _merged_delete() -> ChangeEvent:
    return ChangeEvent(
        entity="Account",
        change_type="DELETE",
        record_ids=LOSERS,
        fields={},
        change_origin="com/salesforce/api/soap/62.0;client=SfdcInternalAPI/",
        transaction_key="tx-9",
        sequence_number=1,
        commit_timestamp_ms=1_700_000_000_000,
        replay_id="0a",
        channel="/data/ChangeEvents",
    )


def test_a_merged_event_becomes_one_event_per_record() -> None:
    split = per_record(_merged_delete())
    assert [e.record_ids for e in split] == [(LOSERS[0],), (LOSERS[1],)]
    assert {e.merged_record_ids for e in split} == {LOSERS}
    assert [e.event_id for e in split] == [f"tx-9:1:{LOSERS[0]}", f"tx-9:1:{LOSERS[1]}"]  # distinct and stable
    records = [encode_kafka(to_cloud_event(e, source="s")) for e in split]
    assert [r.key for r in records] == [i.encode() for i in LOSERS]  # each record's own partition key
    back = [decode_change_record(r.key, r.value, r.headers) for r in records]
    assert back == split


def test_single_and_wildcard_events_stay_whole() -> None:
    one = ChangeEvent("Account", "UPDATE", (LOSERS[0],), {"Name": "x"}, transaction_key="t", sequence_number=2)
    wildcard = ChangeEvent("Account", "GAP_UPDATE", ("001*",), {}, transaction_key="t", sequence_number=3)
    assert per_record(one) == [one]
    assert per_record(wildcard) == [wildcard]
    assert one.event_id == "t:2"


@pytest.mark.timeout(120)
async def test_merge_and_undelete_reach_the_stream(kafka_bootstrap: str) -> None:
    org = Org()
    run = uuid.uuid4().hex[:8]
    winner, loser_a, loser_b, other, other_loser = org.insert_many(
        "Account", [{"Name": n} for n in ("Winner", "Loser A", "Loser B", "Other", "Other loser")]
    )
    [child] = org.insert_many("Contact", [{"LastName": "Kid", "AccountId": loser_a["id"]}])
    async with EmulatorServer(org, pubsub_port=0) as server:
        assert server.pubsub_target is not None
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
            topics=TopicSettings(cdc_prefix=f"m{run}.crm.cdc.", source_checkpoints=f"m{run}.checkpoints"),
            source=SourceSettings(pubsub_target=server.pubsub_target, pubsub_tls=False, transactional_id=f"m{run}"),
        )
        start = org.feed.latest("/data/ChangeEvents")
        # A person merges three Accounts in the UI; later restores one loser from the Recycle Bin.
        merged = await org.recycle_bin.merge("Account", winner["id"], [loser_a["id"], loser_b["id"]])
        restored = await org.recycle_bin.undelete([loser_b["id"]])
        # The bridge's own client merges two others (a SOAP merge carrying our client id): an echo.
        ours = await org.recycle_bin.merge("Account", other["id"], [other_loser["id"]], client="crm-bridge")
        assert merged["success"]
        assert restored[0]["success"]
        assert ours["success"]
        assert org.feed.latest("/data/ChangeEvents") > start
        stop = asyncio.Event()
        source = asyncio.create_task(
            run_source(settings, credentials=oauth_login(server), reconciler=_NoReads(), stop=stop)
        )
        try:
            await wait_for_checkpoint(settings, org.feed.latest("/data/ChangeEvents"))
            topics = [f"{settings.topics.cdc_prefix}Account", f"{settings.topics.cdc_prefix}Contact"]
            async with ChangeStream(kafka_bootstrap, topics, group(), include_echoes=True) as stream:
                events = await drain(stream, 8)
        finally:
            stop.set()
            await asyncio.wait_for(source, timeout=10)
    seen = sorted((e.record_ids[0], e.change_type, e.is_echo) for e in events if e.commit_timestamp_ms)
    created = {winner["id"], loser_a["id"], loser_b["id"], other["id"], other_loser["id"], child["id"]}
    after_creates = [s for s in seen if not (s[1] == "CREATE" and s[0] in created)]
    assert after_creates == sorted(
        [
            (loser_a["id"], "DELETE", False),
            (loser_b["id"], "DELETE", False),
            (child["id"], "UPDATE", False),
            (winner["id"], "UPDATE", False),
            (loser_b["id"], "UNDELETE", False),
            (other_loser["id"], "DELETE", True),
            (other["id"], "UPDATE", True),
        ]
    )
    deletes = [e for e in events if e.change_type == "DELETE" and not e.is_echo]
    assert {e.merged_record_ids for e in deletes} == {(loser_a["id"], loser_b["id"])}  # one Salesforce event
    undelete = next(e for e in events if e.change_type == "UNDELETE")
    assert undelete.fields["Name"] == "Loser B"
    reparented = next(e for e in events if e.entity == "Contact" and e.change_type == "UPDATE")
    assert reparented.fields["AccountId"] == winner["id"]
