"""Operators move a channel's checkpoint (`crm-bridge source checkpoint set`) while the source runs, on a real broker
and the emulated Pub/Sub API: the command is applied at a transaction boundary, recorded in the checkpoint topic,
and what the move skips is reconciled."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

from bridge.config import Settings
from bridge.source.checkpoint import Checkpoint, load_state
from bridge.source.commands import COMMAND_KEY_PREFIX, CheckpointCommand, Target, record_command
from tests.source.conftest import Org, read_changes, wait_for_checkpoint
from tests.source.test_source_kafka import running_source

pytestmark = [pytest.mark.kafka]
CHANNEL = "/data/ChangeEvents"


async def command(settings: Settings, target: Target, replay_id: bytes = b"") -> CheckpointCommand:
    """Record a command the way the CLI does."""
    made = CheckpointCommand.create(CHANNEL, target, replay_id, issued_by="test")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await record_command(producer, settings.topics.source_checkpoints, made)
    finally:
        await producer.stop()
    return made


async def applied(settings: Settings, made: CheckpointCommand, timeout_s: float = 20) -> Checkpoint:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        state = await load_state(str(settings.kafka.bootstrap_servers), settings.topics.source_checkpoints)
        found = state.checkpoints.get(CHANNEL)
        if found is not None and found.applied_command == made.command_id:
            assert made.channel not in state.pending()
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"command {made.command_id} never applied")


async def test_earliest_while_running_replays_retained_events(source_settings: Settings, org: Org) -> None:
    """EARLIEST moves back: every retained event is delivered again (same event ids, so consumers can dedupe), nothing
    is reconciled, and a malformed command record before it does not stop the source."""
    last = 0
    for n in range(5):
        last = org.change(n, name=f"first-{n}")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, last)
        producer = AIOKafkaProducer(bootstrap_servers=source_settings.kafka.bootstrap_servers)
        await producer.start()
        await producer.send_and_wait(source_settings.topics.source_checkpoints, b"{", key=COMMAND_KEY_PREFIX + b"/x")
        await producer.stop()
        made = await command(source_settings, "EARLIEST")
        await applied(source_settings, made)
        await wait_for_checkpoint(source_settings, last)  # read to the end again
        after = org.change(9, name="after")
        await wait_for_checkpoint(source_settings, after)
    events = await read_changes(source_settings, expect=11)
    changes = [e for e in events if not e.full_state]
    assert Counter(e.fields["Name"] for e in changes) == {**{f"first-{n}": 2 for n in range(5)}, "after": 1}
    replayed = Counter(e.event_id for e in changes if e.fields["Name"].startswith("first-"))
    assert sorted(replayed.values()) == [2] * 5  # the same five events, each with its own id, twice
    assert not [e for e in events if e.full_state]


async def test_replay_id_while_running_resumes_after_it_and_reconciles(source_settings: Settings, org: Org) -> None:
    """A replay id is opaque (its direction unknown), so the move is covered as a skip: the records changed since the
    channel's last commit are published in their current state, in the transaction that moves the checkpoint, and
    the stream resumes strictly after the given id."""
    ids = [org.change(n, name=f"v{n}") for n in range(5)]
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, ids[-1])
        made = await command(source_settings, "REPLAY_ID", ids[2].to_bytes(8, "big"))
        await applied(source_settings, made)
        await wait_for_checkpoint(source_settings, ids[-1])
    events = await read_changes(source_settings, expect=12)
    changes = Counter(e.fields["Name"] for e in events if not e.full_state)
    assert changes == {"v0": 1, "v1": 1, "v2": 1, "v3": 2, "v4": 2}  # after ids[2] again, not ids[2] itself
    snapshots = {e.record_ids[0]: e.fields["Name"] for e in events if e.full_state}
    assert snapshots == {f"001{n:015d}": f"v{n}" for n in range(5)}


async def test_latest_recorded_while_stopped_skips_the_backlog_and_reconciles_it(
    source_settings: Settings, org: Org
) -> None:
    """LATEST moves forward past a backlog: its change events are not delivered, and the records they touched are
    published in their current state when the first position after LATEST is committed (so a change made between
    the reconciliation read and the subscription is not lost either). Recorded while the source is stopped, the
    command is applied when it starts."""
    first = org.change(1, name="kept")
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, first)
    backlog = [org.change(n, name=f"storm-{n}") for n in range(2, 12)]
    made = await command(source_settings, "LATEST")
    async with running_source(source_settings, org):
        await applied(source_settings, made)
        await asyncio.sleep(1.5)  # a keepalive: the first position after LATEST
        fresh = org.change(20, name="fresh")
        await wait_for_checkpoint(source_settings, fresh)
    events = await read_changes(source_settings, expect=13)
    changes = [e.fields["Name"] for e in events if not e.full_state]
    assert sorted(changes) == ["fresh", "kept"]  # the storm's events were skipped
    snapshots = {e.record_ids[0]: e.fields["Name"] for e in events if e.full_state}
    assert {f"001{n:015d}": f"storm-{n}" for n in range(2, 12)}.items() <= snapshots.items()
    assert backlog[-1] < fresh


async def test_cli_sets_and_shows_while_the_source_runs(source_settings: Settings, org: Org) -> None:
    """`crm-bridge source checkpoint set CHANNEL --replay-id ID --wait` and `show`, as an operator runs them."""
    ids = [org.change(n, name=f"c{n}") for n in range(3)]
    env = {
        **os.environ,
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": str(source_settings.kafka.bootstrap_servers),
        "BRIDGE_TOPICS__SOURCE_CHECKPOINTS": source_settings.topics.source_checkpoints,
    }

    async def cli(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "source", "checkpoint", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        return process.returncode or 0, out.decode()

    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, ids[-1])
        code, out = await cli("set", CHANNEL, "--replay-id", ids[0].to_bytes(8, "big").hex(), "--wait")
        assert code == 0, out
        assert "applied:" in out
        code, shown = await cli("show")
    assert code == 0, shown
    assert f"{CHANNEL}: replay id " in shown
    assert "pending" not in shown
    code, out = await cli("set", CHANNEL, "--earliest", "--latest")
    assert code == 2
    assert "exactly one" in out
    code, out = await cli("set", "Account", "--latest")
    assert code == 2
    assert "not a Pub/Sub channel" in out
