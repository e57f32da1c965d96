"""`crm-bridge publish FILE.jsonl` on a real broker: every line accounted for, bad lines by number, exit status."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.config import KafkaSettings
from bridge.demo.dataset import demo_events
from bridge.demo.readback import read_back
from bridge.demo.reconcile import reconcile
from bridge.events import encode_structured
from bridge.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.kafka


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        configured = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
        if not configured:
            pytest.fail("no Kafka broker: no kafka_bootstrap fixture and BRIDGE_KAFKA__BOOTSTRAP_SERVERS unset")
        return configured


def test_publish_file_reports_bad_lines_by_number_and_exits_non_zero(bootstrap: str, tmp_path: Path) -> None:
    topic = f"test.cli.{uuid.uuid4().hex[:12]}"
    asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec(topic, 3, 1, {})]))
    events = list(demo_events(300, run_id=f"cli-{uuid.uuid4().hex[:6]}"))
    bad_schema = orjson.dumps({**orjson.loads(encode_structured(events[0])), "id": "bad-1", "data": {"name": "x"}})
    lines = [encode_structured(e) for e in events[:100]] + [b"{broken", b"", bad_schema]
    lines += [encode_structured(e) for e in events[100:]]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = CliRunner().invoke(main, ["publish", "--topic", topic, "--bootstrap-servers", bootstrap, str(path)])

    assert result.exit_code == 1, result.output
    assert "line 101: invalid: malformed: not valid JSON" in result.output
    assert (
        "line 103: invalid: com.acme.crm.customer.upserted payload at $: must contain ['customer_id'" in result.output
    )
    assert "lines: 303  published: 300  invalid: 2  failed: 0  blank: 1" in result.output
    received = asyncio.run(read_back(bootstrap, [topic], timeout_s=15))
    assert reconcile(events, received).ok


def test_a_clean_file_exits_zero(bootstrap: str, tmp_path: Path) -> None:
    topic = f"test.cli.{uuid.uuid4().hex[:12]}"
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode_structured(e) for e in demo_events(20, run_id=uuid.uuid4().hex[:6])))
    result = CliRunner().invoke(main, ["publish", "--topic", topic, "--bootstrap-servers", bootstrap, str(path)])
    assert result.exit_code == 0, result.output
    assert "published: 20  invalid: 0  failed: 0" in result.output


def test_unreachable_broker_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode_structured(e) for e in demo_events(2)))
    result = CliRunner().invoke(main, ["publish", "--bootstrap-servers", "127.0.0.1:1", str(path)])
    assert result.exit_code == 1
    assert "Kafka did not acknowledge" in result.output
