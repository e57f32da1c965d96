"""The processor worker against a real broker: DLQ for bad input, restarts, rebalances, out-of-order versions."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from bridge.events import CloudEvent, encode_kafka
from bridge.processing.records import MappedRecord
from bridge.processing.routing import decode_dead_letter, decode_write_topic
from tests.processor.conftest import Names, Worker, customer_event, publish, read_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


def _writes(messages: list[Any], names: Names) -> list[Any]:
    decoded = [decode_write_topic(m.value) for m in messages if m.topic in {names.realtime, names.bulk}]
    return [write for write in decoded if isinstance(write, MappedRecord)]  # refusal notices are not writes


async def test_bad_inputs_reach_the_dlq_with_reasons_and_the_worker_keeps_running(
    broker: str, names: Names, start_worker: Callable[..., Worker], producer: AIOKafkaProducer
) -> None:
    worker = start_worker()
    good = encode_kafka(customer_event("GOOD-1", 1))
    unknown = encode_kafka(CloudEvent(id="u1", source="s", type="com.acme.nope", data={"a": 1}))
    no_name = encode_kafka(CloudEvent(id="s1", source="s", type=good_type(), data={"customer_id": "X", "version": 1}))
    huge = encode_kafka(customer_event("BIG-1", 1, name="x" * 200_000))
    hostile = encode_kafka(customer_event('a/b?c=%27"ü', 1))
    too_rich = encode_kafka(customer_event("RICH-1", 1, annual_revenue=10**17))
    sends: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
        (b"k", b"\x00\xffnot json", []),
        (None, b'{"id": "x"}', [("ce_id", b"\xff\xfe")]),
        (None, b'{"no": "headers"}', []),
        (unknown.key, unknown.value, unknown.headers),
        (no_name.key, no_name.value, no_name.headers),
        (huge.key, huge.value, huge.headers),
        (hostile.key, hostile.value, hostile.headers),
        (too_rich.key, too_rich.value, too_rich.headers),
        (good.key, good.value, good.headers),
    ]
    for key, value, headers in sends:
        await producer.send_and_wait(names.source, value, key=key, headers=headers)
    messages = await read_until(broker, [names.dlq, names.realtime], lambda ms: len(ms) >= len(sends), idle_s=2.0)
    letters = [decode_dead_letter(m.value) for m in messages if m.topic == names.dlq]
    assert Counter(letter.reason for letter in letters) == Counter(
        {
            "malformed": 3,
            "unknown_type": 1,
            "schema_violation": 1,
            "too_large": 1,
            "invalid_external_id": 1,
            "field_metadata": 1,
        }
    )
    for letter in letters:
        assert letter.origin.topic == names.source
        assert letter.detail
    by_payload = {letter.payload for letter in letters}
    assert b"\x00\xffnot json" in by_payload
    assert hostile.value in by_payload
    rich = next(letter for letter in letters if letter.reason == "field_metadata")
    assert orjson.loads(rich.detail)[0]["rule"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert [w.external_id for w in _writes(messages, names)] == ["GOOD-1"]
    assert worker.alive()
    assert await worker.metric("bridge_dead_letters_total") == 8
    assert await worker.metric("bridge_events_total", outcome="written") == 1


def good_type() -> str:
    return "com.acme.crm.customer.upserted"


async def test_dedupe_state_survives_a_restart(
    broker: str, names: Names, start_worker: Callable[..., Worker], producer: AIOKafkaProducer
) -> None:
    first = start_worker()
    events = [customer_event(f"C-{n}", 1) for n in range(30)]
    await publish(producer, names.source, events)
    written = await read_until(broker, [names.realtime], lambda ms: len(ms) >= 30)
    assert len(written) == 30
    await first.wait_ready()
    assert first.stop() == 0

    # The same events again (new offsets, same ids) and the same content under new ids: nothing to write.
    again = [customer_event(f"C-{n}", 1) for n in range(30)]
    same_content = [customer_event(f"C-{n}", 2, event_id=f"new-{n}", name=f"Customer C-{n} v1") for n in range(30)]
    newer = [customer_event("C-0", 3)]
    second = start_worker()
    await second.wait_ready()
    await publish(producer, names.source, [*again, *same_content, *newer])
    messages = await read_until(broker, [names.realtime], lambda ms: len(ms) >= 31)
    writes = _writes(messages, names)
    assert len(writes) == 31
    assert (writes[-1].external_id, writes[-1].version) == ("C-0", 3)
    assert await second.metric("bridge_dedupe_skips_total", reason="duplicate") == 30
    assert await second.metric("bridge_dedupe_skips_total", reason="unchanged") == 30


async def test_out_of_order_versions_never_move_a_record_back(
    broker: str, names: Names, start_worker: Callable[..., Worker], producer: AIOKafkaProducer
) -> None:
    worker = start_worker(BRIDGE_PROCESSOR__COALESCE_WINDOW_S="0.05")
    await worker.wait_ready()
    for version in (5, 2, 7, 6, 1, 8):
        await publish(producer, names.source, [customer_event("ORD-1", version)])
        await asyncio.sleep(0.4)  # separate batches, so coalescing does not hide the ordering
    messages = await read_until(broker, [names.realtime], lambda ms: len(ms) >= 3)
    assert [w.version for w in _writes(messages, names)] == [5, 7, 8]
    assert await worker.metric("bridge_dedupe_skips_total", reason="stale") == 3


async def test_two_workers_with_a_rebalance_write_every_key_once_per_version(
    broker: str, names: Names, start_worker: Callable[..., Worker], producer: AIOKafkaProducer
) -> None:
    keys = [f"R-{n}" for n in range(60)]
    first = start_worker()
    await first.wait_ready()
    await publish(producer, names.source, [customer_event(k, 1) for k in keys])
    second = start_worker()  # joins: the group rebalances while the first wave is being processed
    await publish(producer, names.source, [customer_event(k, 2) for k in keys])
    await second.wait_ready()
    await asyncio.sleep(2)
    # redeliveries of the second wave and a third wave after the rebalance
    await publish(producer, names.source, [customer_event(k, 2) for k in keys])
    await publish(producer, names.source, [customer_event(k, 3) for k in keys])
    last = {k: 3 for k in keys}

    def complete(messages: list[Any]) -> bool:
        seen = {(w.external_id, w.version) for w in _writes(messages, names)}
        return all((k, v) in seen for k, v in last.items())

    messages = await read_until(broker, [names.realtime], complete, timeout_s=120)
    writes = _writes(messages, names)
    pairs = Counter((w.external_id, w.version) for w in writes)
    assert all((k, 3) in pairs for k in keys), "a key's last version was lost"
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    per_key: dict[str, list[int]] = {}
    for write in writes:
        per_key.setdefault(write.external_id, []).append(write.version or 0)
    assert all(v == sorted(v) for v in per_key.values())
    assert first.alive()
    assert second.alive()
    # both workers owned partitions after the rebalance, and the moved keys' state came from the changelog
    assert await first.metric("bridge_events_total") > 0
    assert await second.metric("bridge_events_total") > 0
    duplicates = await first.metric("bridge_dedupe_skips_total", reason="duplicate")
    duplicates += await second.metric("bridge_dedupe_skips_total", reason="duplicate")
    assert duplicates >= len(keys)
