"""End to end through a real processor worker: events the ingest authenticated keep their identity on the write
topic and the DLQ, and an event resent after a 503 (same id and source) ends as exactly one write."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from bridge.processing.routing import decode_dead_letter, decode_write
from tests.ingest.conftest import BATCH, SCHEMAS, STRUCTURED, Schemas, TokenFileHandle, customer, running_ingest
from tests.processor.conftest import Names, Worker, read_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


def _schemas(tmp_path: Path, names: Names) -> Schemas:
    """`schemas/` with customer events routed to the worker's source topic."""
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, directory)
    deal_topic = f"{names.prefix}.deal.{uuid.uuid4().hex[:6]}"
    for event_type, topic in (("customer", names.source), ("deal", deal_topic)):
        path = directory / "events" / f"com.acme.crm.{event_type}.upserted.schema.json"
        schema = orjson.loads(path.read_bytes())
        schema["x-bridge"]["topic"] = topic
        schema["x-bridge"].pop("realtime_topic", None)  # both lanes on the worker's one source topic
        path.write_bytes(orjson.dumps(schema))
    return Schemas(directory, names.source, deal_topic)


async def test_the_identity_reaches_the_writes_and_the_dlq_and_a_replay_is_written_once(
    broker: str, names: Names, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    tokens = TokenFileHandle(tmp_path / "tokens.json")
    tokens.add("ERP", types=("com.acme.crm.*",))
    worker = start_worker()
    events = [customer("E2E-1", event_id="erp-e2e-1"), customer("E2E'bad", event_id="erp-e2e-2")]
    async with running_ingest(broker, _schemas(tmp_path, names), tokens.path, headers=tokens.bearer("ERP")) as ingest:
        first = await ingest.client.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
        # The retry of a client whose first attempt got a 503 (its event stored nonetheless): same id, same source.
        replay = await ingest.client.post("/v1/events", content=orjson.dumps(events[0]), headers=STRUCTURED)
    assert (first.status_code, replay.status_code) == (202, 202)
    await worker.wait_ready()
    messages = await read_until(
        broker, [names.realtime, names.bulk, names.dlq], lambda ms: len(ms) >= 2, timeout_s=90, idle_s=3.0
    )
    writes = [m for m in messages if m.topic in {names.realtime, names.bulk}]
    letters = [m for m in messages if m.topic == names.dlq]
    assert len(writes) == 1  # the replay was dropped by the processor's dedupe
    [write] = writes
    assert decode_write(write.value).external_id == "E2E-1"
    assert decode_write(write.value).authids == ("ERP",)
    assert ("ce_authid", b"ERP") in write.headers
    [letter] = [decode_dead_letter(m.value) for m in letters]
    assert letter.reason == "invalid_external_id"
    assert dict(letter.headers)["ce_authid"] == b"ERP"
    assert dict(letter.headers)["ce_authtype"] == b"api_key"
    assert await worker.metric("bridge_dedupe_skips_total", reason="duplicate") == 1
