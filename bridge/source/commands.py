"""Operators' checkpoint commands: move a channel to a replay id, EARLIEST or LATEST, safely while the source runs.

The command is a record on the checkpoint topic itself (key `command:<channel>`), not a checkpoint: the source is
the only writer of checkpoints, and it writes each one in the Kafka transaction of the events it covers. A running
source watches the topic and applies a command between two of its transactions: it leaves the stream, commits
the new checkpoint (with any reconciliation events, and the command's id as applied) in one transaction, and
subscribes from there. A stopped source applies a pending command when it starts. So the command never races a
commit in flight, and a crash at any point either leaves it pending or has applied it exactly once.

Writing the checkpoint from the command line instead, even fenced through the source's transactional id, would
either kill the running source (fenced, it must stop) or be overwritten by its next commit.

What moving the checkpoint opens, and what covers it:
- forward (LATEST, or a replay id after the current position): the events skipped are not delivered; for change
  channels the records changed since the channel's last commit time are read and published as full-state events
  (`SNAPSHOT`) in the same transaction, so every record touched in the gap reaches Kafka in its current state
  (deletes in the gap are not: a reconciliation reads live records). Platform Events skipped are gone.
- backward (EARLIEST, or an earlier replay id): events are delivered again; consumers dedupe by `event_id`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import orjson
from aiokafka import AIOKafkaProducer

from bridge.errors import MalformedEvent

COMMAND_KEY_PREFIX = b"command:"
Target = Literal["REPLAY_ID", "EARLIEST", "LATEST"]
TARGETS: tuple[Target, ...] = ("REPLAY_ID", "EARLIEST", "LATEST")


@dataclass(frozen=True, slots=True)
class CheckpointCommand:
    """Set `channel`'s checkpoint to `replay_id` (target REPLAY_ID), or to EARLIEST or LATEST."""

    channel: str
    target: Target
    replay_id: bytes = b""
    command_id: str = ""
    issued_at_ms: int = 0
    issued_by: str = ""

    @classmethod
    def create(cls, channel: str, target: Target, replay_id: bytes = b"", *, issued_by: str = "") -> CheckpointCommand:
        """A new command with a fresh id and the current time."""
        if (target == "REPLAY_ID") != bool(replay_id):
            raise ValueError("a replay id goes with target REPLAY_ID, and only with it")
        if not channel.startswith(("/data/", "/event/")):
            raise ValueError(f"{channel!r} is not a Pub/Sub channel (/data/... or /event/...)")
        return cls(channel, target, replay_id, str(uuid.uuid4()), int(time.time() * 1000), issued_by)

    @property
    def skips_forward(self) -> bool:
        """May skip events (a reconciliation covers the gap): LATEST, or a replay id whose direction is unknown."""
        return self.target != "EARLIEST"

    def describe(self) -> str:
        """`replay id 00000000000003f1`, `EARLIEST` or `LATEST`."""
        return f"replay id {self.replay_id.hex()}" if self.target == "REPLAY_ID" else self.target

    def encode(self) -> tuple[bytes, bytes]:
        """Key and value of the command record."""
        value = {
            "kind": "checkpoint-command",
            "commandId": self.command_id,
            "target": self.target,
            "replayId": self.replay_id.hex(),
            "issuedAt": self.issued_at_ms,
            "issuedBy": self.issued_by,
        }
        return COMMAND_KEY_PREFIX + self.channel.encode(), orjson.dumps(value)

    @classmethod
    def decode(cls, key: bytes | None, value: bytes | None) -> CheckpointCommand:
        """Parse a command record; anything else is a MalformedEvent."""
        try:
            data = orjson.loads(value or b"")
            channel = (key or b"").removeprefix(COMMAND_KEY_PREFIX).decode()
            command = cls(
                channel,
                data["target"],
                bytes.fromhex(data.get("replayId", "")),
                str(data["commandId"]),
                int(data.get("issuedAt", 0)),
                str(data.get("issuedBy", "")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise MalformedEvent(f"not a checkpoint command record: {exc}") from exc
        if data.get("kind") != "checkpoint-command" or command.target not in TARGETS:
            raise MalformedEvent(f"not a checkpoint command: {data.get('kind')!r} {command.target!r}")
        return command


async def record_command(producer: AIOKafkaProducer, topic: str, command: CheckpointCommand) -> None:
    """Write the command to the checkpoint topic and wait for the broker's acknowledgement."""
    key, value = command.encode()
    await producer.send_and_wait(topic, value, key=key)
