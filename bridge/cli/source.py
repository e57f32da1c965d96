"""`crm-bridge source checkpoint show|set`: where each channel's subscription stands, and moving it after an incident.

crm-bridge source checkpoint show
crm-bridge source checkpoint set /data/AccountChangeEvent --replay-id 00000000000a1b2c
crm-bridge source checkpoint set /event/Order_Event__e --latest --wait

`set` records a command on the checkpoint topic; the running source applies it at its next transaction boundary
(a stopped one when it starts), together with the reconciliation that covers any events the move skips. See
`bridge.source.commands` for why the command does not write the checkpoint itself.
"""

from __future__ import annotations

import asyncio
import datetime
import getpass
import sys
from typing import TYPE_CHECKING

import click

from bridge.config import Settings
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from bridge.source.commands import CheckpointCommand, Target


@click.group("source")
def source() -> None:
    """The Pub/Sub source: its channels' replay checkpoints."""


@source.group("checkpoint")
def checkpoint() -> None:
    """Show or set a channel's replay checkpoint."""


def _when(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@checkpoint.command("show")
@click.argument("channel", required=False)
def show(channel: str | None) -> None:
    """Every channel's checkpoint (or CHANNEL's) and any command not yet applied."""
    from bridge.source.checkpoint import load_state  # noqa: PLC0415 - Kafka loads only when used

    settings = Settings()
    state = asyncio.run(load_state(str(settings.kafka.bootstrap_servers), settings.topics.source_checkpoints))
    pending = state.pending()
    channels = sorted({*state.checkpoints, *pending} if channel is None else {channel})
    if not channels:
        click.echo("no checkpoints yet")
    for name in channels:
        found = state.checkpoints.get(name)
        if found is None:
            click.echo(f"{name}: no checkpoint (first start: {settings.source.first_start})")
        else:
            position = found.replay_id.hex() if found.replay_id else f"start at {found.preset or 'EARLIEST'}"
            click.echo(f"{name}: replay id {position}, newest commit {_when(found.commit_timestamp_ms)}")
        if name in pending:
            command = pending[name]
            click.echo(
                f"  pending: set to {command.describe()} (command {command.command_id}, {_when(command.issued_at_ms)})"
            )


@checkpoint.command("set")
@click.argument("channel")
@click.option("--replay-id", "replay_id", default=None, help="Resume after this replay id (hex, as `show` prints).")
@click.option("--earliest", is_flag=True, help="Replay every retained event (72 h); consumers see repeats.")
@click.option("--latest", is_flag=True, help="Skip to the tip; the records changed meanwhile are reconciled.")
@click.option("--wait/--no-wait", default=False, help="Wait until the running source has applied it.")
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True, help="Seconds --wait waits.")
def set_checkpoint(
    channel: str, *, replay_id: str | None, earliest: bool, latest: bool, wait: bool, timeout_s: float
) -> None:
    """Set CHANNEL's checkpoint to a replay id, EARLIEST or LATEST, safely while the source runs."""
    from bridge.source.commands import CheckpointCommand  # noqa: PLC0415

    chosen = [
        name for name, given in (("--replay-id", replay_id), ("--earliest", earliest), ("--latest", latest)) if given
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --replay-id, --earliest, --latest")
    try:
        raw = bytes.fromhex(replay_id) if replay_id else b""
        target: Target = "REPLAY_ID" if replay_id else ("EARLIEST" if earliest else "LATEST")
        command = CheckpointCommand.create(channel, target, raw, issued_by=getpass.getuser())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    settings = Settings()
    try:
        asyncio.run(_record(settings, command, wait=wait, timeout_s=timeout_s))
    except BridgeError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


async def _record(settings: Settings, command: CheckpointCommand, *, wait: bool, timeout_s: float) -> None:
    from bridge.kafka.producer import create_producer  # noqa: PLC0415
    from bridge.kafka.topics import bridge_topics, ensure_topics  # noqa: PLC0415
    from bridge.source.commands import record_command  # noqa: PLC0415

    topic = settings.topics.source_checkpoints
    await ensure_topics(settings.kafka, [s for s in bridge_topics(settings) if s.name == topic])
    producer = create_producer(settings.kafka, settings.publisher)
    await producer.start()
    try:
        await record_command(producer, topic, command)
    finally:
        await producer.stop()
    click.echo(f"recorded: set {command.channel} to {command.describe()} (command {command.command_id})")
    if command.skips_forward:
        click.echo("  events skipped by the move are reconciled: changed records are published in their current state")
    if not wait:
        click.echo("  a running source applies it at its next transaction boundary; a stopped one when it starts")
        return
    await _wait_applied(settings, command, timeout_s)


async def _wait_applied(settings: Settings, command: CheckpointCommand, timeout_s: float) -> None:
    from bridge.source.checkpoint import load_state  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        state = await load_state(str(settings.kafka.bootstrap_servers), settings.topics.source_checkpoints)
        found = state.checkpoints.get(command.channel)
        if found is not None and found.applied_command == command.command_id:
            click.echo(f"applied: {command.channel} now starts from {command.describe()}")
            return
        await asyncio.sleep(0.5)
    click.echo(f"not applied within {timeout_s:g} s (is the source running?); it stays pending", err=True)
    sys.exit(2)
