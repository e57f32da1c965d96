"""`kill -9` of the source process at random moments, ten times, while the org keeps changing: a read_committed
consumer still sees every change exactly once, in order per record.

The source runs as a real subprocess (this module's `__main__`: `run_source` with a static credentials provider and
a reconciler that must never be needed), against the Pub/Sub server and feed living in the test process. Every
incarnation uses the same transactional id, so a restart fences whatever its predecessor left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Settings
from bridge.emulator.pubsub_server import PubSubServer
from bridge.pubsub.client import Credentials
from bridge.source.checkpoint import load_checkpoints
from tests.source.conftest import Org, read_changes, wait_for_checkpoint
from tests.source.test_source_kafka import assert_exactly_once_in_order

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10
RECORDS = 12


class _NoReconciliation:
    """Nothing is lost in this test, so a reconciliation read is itself a failure."""

    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]:
        raise AssertionError(f"unexpected reconciliation of {entity} since {since_ms}")

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        raise AssertionError(f"unexpected reconciliation read of {entity} {record_ids}")


async def _static_credentials(fresh: bool) -> Credentials:
    return Credentials("token-1", "https://emulator.example", "00D000000000001AAA")


async def _child(settings_json: str) -> None:
    from bridge.source.runner import run_source

    settings = Settings(**json.loads(settings_json))
    await run_source(settings, credentials=_static_credentials, reconciler=_NoReconciliation())


def _settings_json(settings: Settings) -> str:
    return settings.model_dump_json(include={"kafka", "topics", "source", "salesforce"})


@contextlib.asynccontextmanager
async def source_process(
    settings: Settings, log_file: Path, *, may_exit: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One incarnation of the source, killed with SIGKILL on the way out; unless `may_exit`, it must not have
    died on its own."""
    with log_file.open("ab") as log:
        proc = await _spawn(settings, log)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    died_alone = proc.returncode != -signal.SIGKILL
    assert may_exit or not died_alone, f"source exited {proc.returncode}: {log_file.read_text()[-3000:]}"


async def _spawn(settings: Settings, log: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.source.test_kill9",
        _settings_json(settings),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


async def keep_changing(org: Org, names: list[str], stop: asyncio.Event, rng: random.Random) -> None:
    """Small bursts of changes to a handful of records until stopped."""
    n = 0
    while not stop.is_set():
        for _ in range(rng.randint(1, 15)):
            name = f"c{n}"
            org.change(n % RECORDS, name=name)
            names.append(name)
            n += 1
        await asyncio.sleep(rng.uniform(0.01, 0.1))


async def replay_position(settings: Settings) -> int:
    found = await load_checkpoints(str(settings.kafka.bootstrap_servers), settings.topics.source_checkpoints)
    checkpoint = found.get("/data/ChangeEvents")
    return int.from_bytes(checkpoint.replay_id, "big") if checkpoint else 0


async def until_it_commits(settings: Settings, after: int, proc: asyncio.subprocess.Process) -> int:
    """Wait until this incarnation moved the checkpoint past `after`, i.e. it is up and streaming."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (position := await replay_position(settings)) <= after:
        assert proc.returncode is None, f"source exited {proc.returncode} before committing"
        assert loop.time() < deadline, f"source never committed past {after}"
        await asyncio.sleep(0.1)
    return position


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(110)
async def test_kill9_ten_times_every_change_exactly_once(
    source_settings: Settings, org: Org, pubsub: PubSubServer, tmp_path: Path
) -> None:
    log_file = tmp_path / "source.log"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"kill -9 moments drawn with random seed {seed}")  # shown by pytest when the test fails
    names: list[str] = []
    stop_changing = asyncio.Event()
    changer = asyncio.create_task(keep_changing(org, names, stop_changing, rng))
    position = 0
    try:
        for _ in range(KILLS):
            async with source_process(source_settings, log_file) as proc:
                # Startup takes 1-4 s on a busy machine: kill at a random moment once this incarnation streams.
                position = await until_it_commits(source_settings, position, proc)
                await asyncio.sleep(rng.uniform(0.0, 1.0))
    finally:
        stop_changing.set()
        await changer
    last = org.change(0, name="final")
    names.append("final")
    async with source_process(source_settings, log_file):
        await wait_for_checkpoint(source_settings, last, timeout_s=30)
    events = await read_changes(source_settings, expect=len(names))
    assert_exactly_once_in_order(events, names)


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_second_instance_fences_the_first(
    source_settings: Settings, org: Org, pubsub: PubSubServer, tmp_path: Path
) -> None:
    names: list[str] = []
    stop_changing = asyncio.Event()
    changer = asyncio.create_task(keep_changing(org, names, stop_changing, random.Random(7)))
    try:
        async with source_process(source_settings, tmp_path / "old.log", may_exit=True) as old:
            await wait_for_checkpoint(source_settings, 1)  # the old instance is committing
            async with source_process(source_settings, tmp_path / "new.log"):
                await asyncio.wait_for(old.wait(), timeout=20)  # fenced at its next transaction: it stops
                stop_changing.set()
                await changer
                await wait_for_checkpoint(source_settings, org.change(0, name="final"))
                names.append("final")
    finally:
        stop_changing.set()
        await changer
    assert old.returncode == 1
    assert "SourceFenced" in (tmp_path / "old.log").read_text()
    events = await read_changes(source_settings, expect=len(names))
    assert_exactly_once_in_order(events, names)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_child(sys.argv[1]))
