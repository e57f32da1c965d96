"""The source against a real broker: every change exactly once, in order, resumed exactly after its checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bridge.config import Settings
from bridge.source.changes import ChangeEvent
from bridge.source.runner import run_source
from bridge.source.service import ChannelPump
from tests.source.conftest import Clock, Org, credentials_for, read_changes, wait_for_checkpoint

pytestmark = [pytest.mark.kafka]


@contextlib.asynccontextmanager
async def running_source(settings: Settings, org: Org) -> AsyncIterator[list[ChannelPump]]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_source(
            settings, credentials=credentials_for(org), reconciler=org, reconcile_entities=["Account"], stop=stop
        )
    )
    try:
        yield []
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def assert_exactly_once_in_order(events: list[ChangeEvent], expected: list[str]) -> None:
    """Every expected change once; per record (one partition each), in commit order."""
    changes = [e for e in events if not e.full_state]
    assert sorted(e.fields["Name"] for e in changes) == sorted(expected)
    assert len({e.event_id for e in changes}) == len(changes)
    by_record: dict[str, list[int]] = {}
    for event in changes:
        by_record.setdefault(event.record_ids[0], []).append(int(event.replay_id, 16))
    for replay_ids in by_record.values():
        assert replay_ids == sorted(replay_ids)


async def test_every_change_once_in_order_with_its_checkpoint(source_settings: Settings, org: Org) -> None:
    names = [f"A{n}" for n in range(25)]
    last = 0
    for n, name in enumerate(names):
        last = org.change(n % 5, name=name)
    async with running_source(source_settings, org):
        checkpoint = await wait_for_checkpoint(source_settings, last)
    events = await read_changes(source_settings, expect=25)
    assert_exactly_once_in_order(events, names)
    assert int.from_bytes(checkpoint.replay_id, "big") == last
    assert {e.record_ids[0] for e in events} == {f"001{n:015d}" for n in range(5)}


async def test_restart_resumes_exactly_after_the_checkpoint(source_settings: Settings, org: Org) -> None:
    first = [org.change(n, name=f"first-{n}") for n in range(10)]
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, first[-1])
    second = [org.change(n, name=f"second-{n}") for n in range(10)]
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, second[-1])
    events = await read_changes(source_settings, expect=20)
    assert_exactly_once_in_order(events, [f"first-{n}" for n in range(10)] + [f"second-{n}" for n in range(10)])


async def test_outage_mid_stream_resubscribes_without_loss_or_duplicates(
    source_settings: Settings, org: Org, pubsub
) -> None:
    last = 0
    for n in range(30):
        last = org.change(n, name=f"n{n}")
    pubsub.faults.fail_after_events = 10
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, last)
    assert pubsub.faults.streams_opened >= 2
    events = await read_changes(source_settings, expect=30)
    assert_exactly_once_in_order(events, [f"n{n}" for n in range(30)])


async def test_expired_session_logs_in_again(source_settings: Settings, org: Org) -> None:
    first = org.change(1, name="before")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, first)
        org.tokens.clear()  # every session expires; only a fresh login gets a new accepted token
        last = org.change(2, name="after")
        await wait_for_checkpoint(source_settings, last)
    events = await read_changes(source_settings, expect=2)
    assert_exactly_once_in_order(events, ["before", "after"])


async def test_checkpoint_older_than_retention_reconciles_instead_of_losing(
    source_settings: Settings, org: Org, clock: Clock
) -> None:
    first = org.change(1, name="kept")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, first)
    lost = org.change(2, name="lost-from-stream")
    clock.now_s += 73 * 3600  # the stored id and `lost` fall out of retention
    fresh = org.change(3, name="after-window")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, fresh)
    events = await read_changes(source_settings, expect=4)
    snapshots = {e.record_ids[0]: e for e in events if e.full_state}
    assert "001000000000000002" in snapshots  # the record whose change was lost came back as full state
    assert snapshots["001000000000000002"].fields["Name"] == "lost-from-stream"
    assert sorted(e.fields["Name"] for e in events if not e.full_state) == ["after-window", "kept"]
    assert lost < fresh


async def test_echoes_of_our_own_writes_are_tagged(source_settings: Settings, org: Org) -> None:
    org.change(1, name="ours", origin="com/salesforce/api/rest/62.0;client=crm-bridge")
    last = org.change(2, name="theirs", origin="com/salesforce/api/rest/62.0;client=erp-sync")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, last)
    events = await read_changes(source_settings, expect=2)
    assert {e.fields["Name"]: e.is_echo for e in events} == {"ours": True, "theirs": False}


async def test_gap_event_is_followed_by_the_records_full_state(source_settings: Settings, org: Org) -> None:
    org.change(7, name="current")
    gap = org.change(7, name="current", change_type="GAP_UPDATE")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, gap)
    events = await read_changes(source_settings, expect=3)
    assert [e.change_type for e in events] == ["UPDATE", "GAP_UPDATE", "SNAPSHOT"]
    assert events[-1].full_state
    assert ("Account", ("001000000000000007",)) in org.reads
