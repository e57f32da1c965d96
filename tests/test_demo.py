"""The interim demo on a real broker: deterministic events, the summary, and a failing exit status on loss."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.demo.dataset import CUSTOMER_TYPE, DEAL_TYPE, demo_events
from bridge.demo.reconcile import reconcile
from bridge.events import SchemaRegistry


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    try:
        return str(request.getfixturevalue("kafka_bootstrap"))
    except pytest.FixtureLookupError:
        configured = os.environ.get("BRIDGE_KAFKA__BOOTSTRAP_SERVERS")
        if not configured:
            pytest.fail("no Kafka broker: no kafka_bootstrap fixture and BRIDGE_KAFKA__BOOTSTRAP_SERVERS unset")
        return configured


def test_demo_events_are_deterministic_valid_and_parents_come_first() -> None:
    first = list(demo_events(500, run_id="x"))
    assert first == list(demo_events(500, run_id="x"))
    assert first != list(demo_events(500, run_id="x", seed=8))
    registry = SchemaRegistry.load()
    for event in first:
        registry.check(event)
    customers_seen: set[str] = set()
    for event in first:
        if event.type == CUSTOMER_TYPE:
            customers_seen.add(event.data["customer_id"])
        else:
            assert event.type == DEAL_TYPE
            assert event.data["customer_id"] in customers_seen
    assert len(customers_seen) == 100


def test_reconcile_finds_lost_duplicated_altered_and_unexpected_events() -> None:
    sent = list(demo_events(5, run_id="r"))
    altered = sent[2]._replace(data={**sent[2].data, "version": 99})
    stranger = sent[0]._replace(id="someone-else")
    report = reconcile(sent, [sent[0], sent[0], altered, sent[3], stranger])
    assert report.lost == (sent[1].id, sent[4].id)
    assert report.duplicated == (sent[0].id,)
    assert report.altered == (sent[2].id,)
    assert report.unexpected == ("someone-else",)
    assert not report.ok
    assert reconcile(sent, sent).ok


@pytest.mark.kafka
def test_demo_command_publishes_reads_back_and_prints_the_summary(bootstrap: str) -> None:
    result = CliRunner().invoke(main, ["demo", "--publish-only", "--events", "3000", "--bootstrap-servers", bootstrap])
    assert result.exit_code == 0, result.output
    assert "published (acknowledged) │ 3,000" in result.output
    assert "lost                     │ 0" in result.output
    assert "duplicated               │ 0" in result.output
    assert "OK: every event came back exactly once" in result.output


def test_demo_against_an_unreachable_broker_fails_with_a_message() -> None:
    result = CliRunner().invoke(
        main, ["demo", "--publish-only", "--events", "10", "--bootstrap-servers", "127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "Error: cannot create topics" in result.output
