"""Replay-id checkpoints, stored on a compacted Kafka topic inside the same transaction as the events.

One record per channel (key = channel name); the newest committed record wins. Because the checkpoint and the
events it covers commit together, a `read_committed` reader never sees events whose checkpoint was lost, and a
restart resumes exactly after the last committed replay id.

The same topic carries operators' checkpoint commands (`bridge.source.commands`, key `command:<channel>`); a
checkpoint names the last command it applied, so a command is pending until a checkpoint says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.errors import MalformedEvent
from bridge.source.commands import COMMAND_KEY_PREFIX, CheckpointCommand

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a channel's subscription stands: the last replay id written, and the newest commit time seen.

    Without a replay id (after a reconciliation, or an operator's EARLIEST/LATEST), `preset` says where the next
    subscription starts. `applied_command` is the id of the last operator command this checkpoint carries out.
    """

    channel: str
    replay_id: bytes
    commit_timestamp_ms: int
    preset: str = ""
    applied_command: str = field(default="", compare=False)

    def encode(self) -> tuple[bytes, bytes]:
        """Key and value of the checkpoint record."""
        value: dict[str, object] = {"replayId": self.replay_id.hex(), "commitTimestamp": self.commit_timestamp_ms}
        if self.preset:
            value["preset"] = self.preset
        if self.applied_command:
            value["appliedCommand"] = self.applied_command
        return self.channel.encode(), orjson.dumps(value)

    @classmethod
    def decode(cls, key: bytes | None, value: bytes | None) -> Checkpoint:
        """Parse a checkpoint record; a foreign record is a MalformedEvent."""
        try:
            data = orjson.loads(value or b"")
            return cls(
                (key or b"").decode(),
                bytes.fromhex(data["replayId"]),
                int(data["commitTimestamp"]),
                str(data.get("preset", "")),
                str(data.get("appliedCommand", "")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise MalformedEvent(f"not a checkpoint record: {exc}") from exc


@dataclass(frozen=True, slots=True)
class CheckpointState:
    """Everything committed on the checkpoint topic: the newest checkpoint and command per channel, and the end
    offsets read up to (where a watcher for later commands starts)."""

    checkpoints: dict[str, Checkpoint]
    commands: dict[str, CheckpointCommand]
    end_offsets: dict[TopicPartition, int]

    def pending(self) -> dict[str, CheckpointCommand]:
        """The commands no checkpoint has applied yet."""
        return {
            channel: command
            for channel, command in self.commands.items()
            if self.checkpoints.get(channel, _NONE).applied_command != command.command_id
        }


_NONE = Checkpoint("", b"", 0)


async def load_checkpoints(bootstrap_servers: str, topic: str) -> dict[str, Checkpoint]:
    """Read the whole checkpoint topic (committed records only) and keep the newest per channel."""
    return (await load_state(bootstrap_servers, topic)).checkpoints


async def load_state(bootstrap_servers: str, topic: str) -> CheckpointState:
    """Read the whole checkpoint topic (committed records only): checkpoints and commands, newest per channel."""
    assigned = [TopicPartition(topic, p) for p in await _partitions(bootstrap_servers, topic)]
    if not assigned:
        return CheckpointState({}, {}, {})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, isolation_level="read_committed", enable_auto_commit=False
    )
    try:  # started inside: a cancel during start() must still close the consumer
        await consumer.start()
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        checkpoints, commands = await _read_until(consumer, end)
        return CheckpointState(checkpoints, commands, end)
    finally:
        await consumer.stop()


async def _partitions(bootstrap_servers: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code", 0) != 0:
        return []
    return sorted(p["partition"] for p in described["partitions"])


async def _read_until(
    consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]
) -> tuple[dict[str, Checkpoint], dict[str, CheckpointCommand]]:
    checkpoints: dict[str, Checkpoint] = {}
    commands: dict[str, CheckpointCommand] = {}
    remaining = {tp for tp, offset in end.items() if offset > 0}
    while remaining:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                try:
                    found = decode_record(record.key, record.value)
                except MalformedEvent as exc:  # a foreign record must not keep the source from starting
                    log.warning("skipping record %d of the checkpoint topic: %s", record.offset, exc.message)
                    continue
                if isinstance(found, CheckpointCommand):
                    commands[found.channel] = found
                else:
                    checkpoints[found.channel] = found
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
    return checkpoints, commands


def decode_record(key: bytes | None, value: bytes | None) -> Checkpoint | CheckpointCommand:
    """A record of the checkpoint topic: an operator's command (`command:` key) or a checkpoint."""
    if (key or b"").startswith(COMMAND_KEY_PREFIX):
        return CheckpointCommand.decode(key, value)
    return Checkpoint.decode(key, value)


async def watch_commands(
    bootstrap_servers: str,
    topic: str,
    start: dict[TopicPartition, int],
    deliver: Callable[[CheckpointCommand], None],
) -> None:
    """Hand every command recorded on the checkpoint topic after `start` to `deliver`, until cancelled."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, isolation_level="read_committed", enable_auto_commit=False
    )
    try:  # started inside: the source stopping during start() must still close the consumer
        await consumer.start()
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    if not (record.key or b"").startswith(COMMAND_KEY_PREFIX):
                        continue  # the source's own checkpoints
                    try:
                        deliver(CheckpointCommand.decode(record.key, record.value))
                    except MalformedEvent as exc:
                        log.warning("ignoring a malformed checkpoint command at offset %d: %s", record.offset, exc)
    finally:
        await consumer.stop()
