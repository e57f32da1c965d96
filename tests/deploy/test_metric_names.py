"""Every metric a dashboard panel or an alert uses is one the workers really export."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import CollectorRegistry

from bridge.metrics import Metrics
from tests.deploy.conftest import CHART

NAME = re.compile(r"\bbridge_[a-z0-9_]+\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics.create(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    # Labelled families expose no samples until used, so derive the exposition names from the family type.
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in SUFFIXES[:3])
    return names


def used_in_dashboard() -> set[str]:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    return {m for e in exprs for m in NAME.findall(e)}


def used_in_alerts() -> set[str]:
    rules = yaml.safe_load((CHART / "files" / "alerts.yml").read_text())
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    return {m for e in exprs for m in NAME.findall(e)}


def test_dashboard_uses_only_exported_metrics() -> None:
    used = used_in_dashboard()
    assert len(used) >= 10
    assert used - exported_names() == set()


def test_alerts_use_only_exported_metrics() -> None:
    used = used_in_alerts()
    assert len(used) >= 4
    assert used - exported_names() == set()


def test_the_cross_check_catches_a_misspelt_name() -> None:
    assert {"bridge_event_total"} - exported_names() == {"bridge_event_total"}


def test_dashboard_covers_what_operators_watch() -> None:
    used = used_in_dashboard()
    for name in (
        "bridge_events_total",
        "bridge_consumer_lag_records",
        "bridge_api_budget_used_calls",
        "bridge_token_bucket_calls",
        "bridge_write_latency_seconds_bucket",
        "bridge_batch_size_records_bucket",
        "bridge_retries_total",
        "bridge_dead_letters_total",
        "bridge_salesforce_trigger_cpu_errors_total",
    ):
        assert name in used, name
