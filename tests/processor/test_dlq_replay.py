"""`crm-bridge dlq list|replay` against a real broker: a rejected record is listed, fixed, replayed, written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from bridge.catalog.snapshot import OrgSnapshot, write_snapshot
from bridge.cli.main import main
from bridge.processing.records import MappedRecord
from bridge.processing.routing import decode_write_topic
from tests.processing.conftest import ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE, field
from tests.processor.conftest import Names, Worker, customer_event, publish, read_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


def _cli(broker: str, names: Names, *args: str) -> Any:
    env = {"BRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker, "BRIDGE_TOPICS__DLQ": names.dlq}
    return CliRunner().invoke(main, ["--log-level", "WARNING", "dlq", *args], env=env, catch_exceptions=False)


async def test_list_then_replay_after_a_fix(
    broker: str,
    names: Names,
    org_dir: Path,
    start_worker: Callable[..., Worker],
    producer: AIOKafkaProducer,
) -> None:
    worker = start_worker()
    await publish(producer, names.source, [customer_event("RICH-1", 1, annual_revenue=10**17)])
    await publish(producer, names.source, [customer_event("OK-1", 1)])
    await read_until(broker, [names.dlq, names.realtime], lambda ms: len(ms) >= 2, idle_s=1.0)
    worker.stop()

    listed = await asyncio.to_thread(_cli, broker, names, "list", "--json")
    assert listed.exit_code == 0, listed.output
    items = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [(i["stage"], i["reason"], i["key"]) for i in items] == [("validate", "field_metadata", "Account:RICH-1")]
    assert "NUMBER_OUTSIDE_VALID_RANGE" in items[0]["detail"]
    assert items[0]["origin"].startswith(f"{names.source}/")

    refused = await asyncio.to_thread(_cli, broker, names, "replay")
    assert refused.exit_code != 0  # no selection: refuses to replay everything by accident

    # The fix: the org allows bigger revenues. A new worker reads the new metadata, then we replay.
    fixed = {
        **ACCOUNT_DESCRIBE,
        "fields": [*ACCOUNT_DESCRIBE["fields"], field("AnnualRevenue", "currency", precision=20, scale=2)],
    }
    fixed["fields"] = [f for f in fixed["fields"] if f["name"] != "AnnualRevenue" or f["precision"] == 20]
    write_snapshot(org_dir, OrgSnapshot({"Account": fixed, "Opportunity": OPPORTUNITY_DESCRIBE}))
    start_worker()
    dry = await asyncio.to_thread(_cli, broker, names, "replay", "--reason", "field_metadata", "--dry-run")
    assert dry.exit_code == 0
    assert len(dry.stdout.splitlines()) == 1
    replayed = await asyncio.to_thread(_cli, broker, names, "replay", "--reason", "field_metadata")
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 of 1" in replayed.stderr

    def writes(messages: list[Any]) -> list[MappedRecord]:  # the refusal notice of the first try is not a write
        return [w for m in messages if isinstance(w := decode_write_topic(m.value), MappedRecord)]

    def has_rich(messages: list[Any]) -> bool:
        return any(w.external_id == "RICH-1" for w in writes(messages))

    messages = await read_until(broker, [names.realtime], has_rich, idle_s=1.0)
    rich = [w for w in writes(messages) if w.external_id == "RICH-1"]
    assert len(rich) == 1
    assert rich[0].fields["AnnualRevenue"] == 10**17
    assert rich[0].event_ids == ("RICH-1-v1",)  # the original event, byte for byte, not a new one
