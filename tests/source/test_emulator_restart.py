"""The Pub/Sub server goes away and comes back (same port, same feed), or answers with errors test_source_kafka.py
does not cover: the source resubscribes after its last committed replay id, so nothing is lost or doubled, and a
non-retryable error stops it instead of looping.
"""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest

from bridge.config import Settings
from bridge.emulator.pubsub_server import PubSubServer
from bridge.pubsub.errors import TopicNotFound
from bridge.source.runner import run_source
from tests.source.conftest import Org, credentials_for, read_changes, wait_for_checkpoint
from tests.source.test_source_kafka import assert_exactly_once_in_order, running_source

pytestmark = [pytest.mark.kafka]


def pointed_at(settings: Settings, target: str, **source: object) -> Settings:
    """The same settings with the source aimed at another Pub/Sub endpoint."""
    return settings.model_copy(
        update={"source": settings.source.model_copy(update={"pubsub_target": target, **source})}
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def change_steadily(org: Org, names: list[str], count: int, *, prefix: str) -> int:
    """`count` changes over ~0.5 s, spread over eight records; returns the last replay id."""
    last = 0
    for n in range(count):
        names.append(f"{prefix}{n}")
        last = org.change(n % 8, name=names[-1])
        await asyncio.sleep(0.5 / count)
    return last


async def test_server_restart_mid_stream_loses_and_doubles_nothing(source_settings: Settings, org: Org) -> None:
    names: list[str] = []
    first = PubSubServer(org.feed, keepalive_s=0.5)
    async with first:
        settings = pointed_at(source_settings, first.target)
        port = int(first.target.rsplit(":", 1)[1])
        async with running_source(settings, org):
            await wait_for_checkpoint(settings, await change_steadily(org, names, 20, prefix="before-"))
            # Stop while changes keep arriving: some are read by the dying stream, some only after the restart.
            changing = asyncio.create_task(change_steadily(org, names, 30, prefix="around-"))
            await asyncio.sleep(0.2)
            await first.__aexit__(None, None, None)
            await changing
            await change_steadily(org, names, 10, prefix="down-")  # the server is down: these wait in the feed
            async with PubSubServer(org.feed, port=port, keepalive_s=0.5) as second:
                last = await change_steadily(org, names, 20, prefix="after-")
                await wait_for_checkpoint(settings, last)
    assert second.faults.streams_opened >= 1
    events = await read_changes(settings, expect=len(names))
    assert_exactly_once_in_order(events, names)


async def test_source_started_before_the_server_waits_for_it(source_settings: Settings, org: Org) -> None:
    names: list[str] = []
    last = await change_steadily(org, names, 15, prefix="early-")
    port = free_port()
    settings = pointed_at(source_settings, f"127.0.0.1:{port}")
    async with running_source(settings, org):
        await asyncio.sleep(1.0)  # several refused connections, each backed off
        async with PubSubServer(org.feed, port=port, keepalive_s=0.5):
            await wait_for_checkpoint(settings, last)
    events = await read_changes(settings, expect=len(names))
    assert_exactly_once_in_order(events, names)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.INTERNAL, "some.code.nobody.documented"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "subscription.limit.exceeded"),
    ],
)
async def test_retryable_stream_errors_resume_after_the_checkpoint(
    source_settings: Settings, org: Org, pubsub: PubSubServer, status: grpc.StatusCode, code: str
) -> None:
    names: list[str] = []
    last = await change_steadily(org, names, 24, prefix="n")
    pubsub.faults.fail_after_events, pubsub.faults.fail_status, pubsub.faults.fail_code = 9, status, code
    async with running_source(source_settings, org):
        await wait_for_checkpoint(source_settings, last)
    assert pubsub.faults.streams_opened >= 2
    assert pubsub.faults.fail_after_events is None  # the fault fired
    events = await read_changes(source_settings, expect=len(names))
    assert_exactly_once_in_order(events, names)


async def test_unknown_channel_stops_the_source_instead_of_looping(source_settings: Settings, org: Org) -> None:
    settings = pointed_at(source_settings, source_settings.source.pubsub_target, channels=("/data/NoSuchChangeEvent",))
    run = run_source(settings, credentials=credentials_for(org), reconciler=org)
    with pytest.raises(TopicNotFound):
        await asyncio.wait_for(run, timeout=20)


async def test_stopping_right_after_the_server_went_away_is_prompt(source_settings: Settings, org: Org) -> None:
    # The stream's error and the stop arrive together: the stop must win, not a resubscribe loop.
    first = PubSubServer(org.feed, keepalive_s=0.5)
    async with first:
        settings = pointed_at(source_settings, first.target)
        stop = asyncio.Event()
        task = asyncio.create_task(run_source(settings, credentials=credentials_for(org), reconciler=org, stop=stop))
        await wait_for_checkpoint(settings, await change_steadily(org, [], 20, prefix="one-"))
    async with PubSubServer(org.feed, port=int(first.target.rsplit(":", 1)[1]), keepalive_s=0.5):
        await wait_for_checkpoint(settings, await change_steadily(org, [], 20, prefix="two-"))
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # a swallowed cancel surfaces here as a late return, not an error
    assert loop.time() - asked_at < 3
