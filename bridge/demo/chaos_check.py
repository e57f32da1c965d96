"""The chaos run's own invariants, checked on Kafka and the emulator after the run (the org check is the demo's).

- every change event of the org on `crm.cdc.*` exactly once (read_committed), compared with the emulator's feed;
- every dead letter exactly once;
- no committed offset beyond a record whose outcome is not durable: every write below the sink group's committed
  offsets has its result or dead letter on Kafka;
- no REQUEST_LIMIT_EXCEEDED answer, counted by the emulator itself (a killed role loses its counters).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.demo.observe import Outcomes
from bridge.emulator import Org
from bridge.processing.routing import Refusal, decode_write_topic

_READ_TIMEOUT_MS = 1_000


def change_failures(outcomes: Outcomes, org: Org, channels: Sequence[str]) -> list[str]:
    """CDC exactly once: as many distinct events per channel as the feed holds, none twice."""
    failures: list[str] = []
    copies = {key: n for key, n in outcomes.change_copies.items() if key[1]}  # full-state events have no replay id
    twice = sorted(f"{channel}:{replay}" for (channel, replay), n in copies.items() if n > 1)
    if twice:
        failures.append(f"change events exactly once: {len(twice)} written twice to crm.cdc.* (e.g. {twice[:3]})")
    for channel in channels:
        in_feed = len(org.feed.read_after(channel, 0, 10**9))
        in_kafka = sum(1 for (name, _) in copies if name == channel)
        if in_kafka != in_feed:
            failures.append(f"change events exactly once: {channel} has {in_feed} in the org, {in_kafka} in Kafka")
    return failures


def letter_failures(outcomes: Outcomes) -> list[str]:
    """Every dead letter exactly once."""
    twice = sorted(ids for ids, n in outcomes.letter_copies.items() if n > 1)
    if not twice:
        return []
    stages = ", ".join(
        f"{stage} {n}" for stage, n in sorted(Counter(outcomes.letters[ids].stage for ids in twice).items())
    )
    return [f"dead letters exactly once: {len(twice)} twice, by stage {stages} (e.g. {[i[0] for i in twice[:3]]})"]


def limit_failures(org: Org, since_s: float) -> list[str]:
    """0 limit errors: 403 answers in the emulator's call log since `since_s` on the org's clock (what the org
    saw, not what a role remembered; the log keeps the last 10,000 requests, far more than a run makes)."""
    refused = sum(1 for entry in org.call_log if entry.at_s >= since_s and entry.status == 403)
    return [f"never locked out: the org answered 403 {refused} times"] if refused else []


async def offset_failures(bootstrap: str, group_id: str, topics: Sequence[str], outcomes: Outcomes) -> list[str]:
    """Every write below the sink group's committed offsets has a durable outcome (a result or a dead letter)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    below = {tp: meta.offset for tp, meta in committed.items() if tp.topic in topics and meta.offset > 0}
    unaccounted = await _writes_without_outcome(bootstrap, below, outcomes)
    if unaccounted:
        return [
            f"offsets only past durable outcomes: {len(unaccounted)} writes below the committed offsets have no "
            f"result or dead letter (e.g. {unaccounted[:3]})"
        ]
    return []


async def _writes_without_outcome(bootstrap: str, below: dict[TopicPartition, int], outcomes: Outcomes) -> list[str]:
    if not below:
        return []
    done = outcomes.written_ids | outcomes.dead_lettered_ids
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    missing: list[str] = []
    try:
        consumer.assign(list(below))
        await consumer.seek_to_beginning(*below)
        remaining = dict(below)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=_READ_TIMEOUT_MS)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    if record.offset < below[tp]:
                        missing += _without_outcome(record.value or b"", outcomes.run_id, done)
                if records and records[-1].offset + 1 >= below[tp]:
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return missing


def _without_outcome(value: bytes, run_id: str, done: set[str]) -> list[str]:
    decoded = decode_write_topic(value)
    if isinstance(decoded, Refusal):
        return []
    return [event_id for event_id in decoded.event_ids if event_id.startswith(run_id) and event_id not in done]
