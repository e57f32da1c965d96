"""`crm-bridge dlq list|replay`: read the dead-letter topic and, after a fix, send chosen records back in.

crm-bridge dlq list --reason schema_violation
crm-bridge dlq replay --reason field_metadata          # back to each record's original topic
crm-bridge dlq replay --offset 0:41 --offset 0:42 --dry-run
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click
import orjson

from bridge.config import Settings
from bridge.processing.routing import REPLAY_HEADER, DeadLetter, decode_dead_letter


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the DLQ and where it sits."""

    partition: int
    offset: int
    letter: DeadLetter | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which DLQ records a command acts on (every given criterion must hold)."""

    reasons: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    positions: frozenset[tuple[int, int]] = frozenset()

    def __contains__(self, entry: Entry) -> bool:
        letter = entry.letter
        if letter is None:
            return False
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.stages or letter.stage in self.stages)
            and (not self.positions or (entry.partition, entry.offset) in self.positions)
        )

    @property
    def empty(self) -> bool:
        """No criterion given."""
        return not (self.reasons or self.stages or self.positions)


async def read_dlq(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Entry]:
    """Every record on `topic` up to its end offsets as of now, in partition and offset order."""
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415 - Kafka loads only when used

    # Without a group, a subscription is assigned every partition of the topic; nothing is committed.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    entries: list[Entry] = []
    try:
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        if not partitions:
            return []
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        async with asyncio.timeout(timeout_s):
            while remaining:
                for tp, messages in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                    for message in messages:
                        if message.offset < end[tp]:
                            entries.append(_entry(message.partition, message.offset, message.value))
                        if message.offset + 1 >= end[tp]:
                            remaining.discard(tp)
    finally:
        await consumer.stop()
    return sorted(entries, key=lambda e: (e.partition, e.offset))


def _entry(partition: int, offset: int, value: bytes | None) -> Entry:
    try:
        return Entry(partition, offset, decode_dead_letter(value or b""))
    except ValueError as exc:
        return Entry(partition, offset, None, str(exc))


async def replay(bootstrap: str, entries: Sequence[Entry], dlq_topic: str, to_topic: str | None) -> int:
    """Send each entry's original key, bytes and headers back to its original topic (or `to_topic`)."""
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for entry in entries:
            letter = entry.letter
            assert letter is not None  # noqa: S101 - selection never matches an undecodable entry
            marker = f"{dlq_topic}@{entry.partition}:{entry.offset}".encode()
            headers = [*((n, v) for n, v in letter.headers if n != REPLAY_HEADER), (REPLAY_HEADER, marker)]
            topic = to_topic or letter.origin.topic
            futures.append(await producer.send(topic, letter.payload, key=letter.key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(entries)


def _position(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise click.BadParameter(f"{text!r} is not PARTITION:OFFSET")
    return int(partition), int(offset)


def _settings(bootstrap: str | None) -> tuple[str, str]:
    settings = Settings()
    servers = bootstrap or settings.kafka.bootstrap_servers
    if not servers:
        raise click.UsageError("no Kafka cluster: pass --bootstrap-servers or set BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
    return servers, settings.topics.dlq


def _describe(entry: Entry) -> dict[str, object]:
    letter = entry.letter
    if letter is None:
        return {"partition": entry.partition, "offset": entry.offset, "error": entry.error}
    origin = letter.origin
    return {
        "partition": entry.partition,
        "offset": entry.offset,
        "stage": letter.stage,
        "reason": letter.reason,
        "detail": letter.detail,
        "origin": f"{origin.topic}/{origin.partition}@{origin.offset}",
        "key": None if letter.key is None else letter.key.decode(errors="replace"),
        "payload_bytes": len(letter.payload),
    }


_select = [
    click.option("--bootstrap-servers", default=None, help="Kafka cluster (default: BRIDGE_KAFKA__BOOTSTRAP_SERVERS)."),
    click.option("--reason", "reasons", multiple=True, help="Only records with this reason code (repeatable)."),
    click.option("--stage", "stages", multiple=True, help="Only records from this stage (decode, map, validate...)."),
    click.option("--offset", "positions", multiple=True, help="Only the record at PARTITION:OFFSET (repeatable)."),
]


def _with_selection(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_select):
        func = option(func)
    return func


@click.group()
def dlq() -> None:
    """Inspect and replay the dead-letter topic."""


@dlq.command("list")
@_with_selection
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(
    *,
    bootstrap_servers: str | None,
    reasons: tuple[str, ...],
    stages: tuple[str, ...],
    positions: tuple[str, ...],
    as_json: bool,
) -> None:
    """List dead letters with their reason, detail and original position."""
    servers, topic = _settings(bootstrap_servers)
    selection = Selection(frozenset(reasons), frozenset(stages), frozenset(map(_position, positions)))
    entries = asyncio.run(read_dlq(servers, topic))
    chosen = [e for e in entries if selection.empty or e in selection]
    for entry in chosen:
        item = _describe(entry)
        if as_json:
            click.echo(orjson.dumps(item).decode())
        else:
            click.echo(
                f"{item['partition']}:{item['offset']}  {item.get('stage')}/{item.get('reason')}  "
                f"{item.get('origin')}  {str(item.get('detail') or item.get('error'))[:160]}"
            )
    click.echo(f"{len(chosen)} of {len(entries)} dead letters on {topic}", err=True)


@dlq.command("replay")
@_with_selection
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter (no other selection needed).")
@click.option("--to-topic", default=None, help="Send to this topic instead of each record's original one.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed, send nothing.")
def replay_command(
    *,
    bootstrap_servers: str | None,
    reasons: tuple[str, ...],
    stages: tuple[str, ...],
    positions: tuple[str, ...],
    replay_all: bool,
    to_topic: str | None,
    dry_run: bool,
) -> None:
    """Send chosen dead letters back to their original topic, byte for byte, after a fix."""
    servers, topic = _settings(bootstrap_servers)
    selection = Selection(frozenset(reasons), frozenset(stages), frozenset(map(_position, positions)))
    if selection.empty and not replay_all:
        raise click.UsageError("choose records with --reason/--stage/--offset, or pass --all")
    entries = asyncio.run(read_dlq(servers, topic))
    chosen = [e for e in entries if e.letter is not None and (replay_all or e in selection)]
    if dry_run:
        for entry in chosen:
            click.echo(orjson.dumps(_describe(entry)).decode())
        click.echo(f"would replay {len(chosen)} of {len(entries)} dead letters", err=True)
        return
    sent = asyncio.run(replay(servers, chosen, topic, to_topic))
    click.echo(f"replayed {sent} of {len(entries)} dead letters", err=True)
    if sent == 0:
        sys.exit(1)
