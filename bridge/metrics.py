"""The bridge's Prometheus metrics, built against an injected registry so tests and workers never share globals.

Every worker role serves these on `/metrics`. Names follow the Prometheus conventions (base units, `_total` for
counters, `_seconds` for durations). The Grafana dashboard and the alert rules under `helm/` use only names that
are defined here; a test cross-checks that.

    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    metrics.events.labels(topic="crm.writes.bulk", outcome="written").inc()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_REALTIME_BUCKETS_S = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 150, 200, 500, 1_000, 5_000, 10_000, 50_000)


@dataclass(frozen=True, slots=True)
class Metrics:
    """All metric families of a worker. Build one per process (or per test) with `Metrics.create`."""

    registry: CollectorRegistry
    events: Counter
    dedupe_skips: Counter
    validation_failures: Counter
    dead_letters: Counter
    rules_not_evaluable: Counter
    api_calls: Counter
    api_limit_errors: Counter
    trigger_cpu_errors: Counter
    retries: Counter
    granted_calls: Counter
    api_daily_limit: Gauge
    api_budget_used: Gauge
    api_budget_remaining: Gauge
    token_bucket_level: Gauge
    inflight_requests: Gauge
    consumer_lag: Gauge
    write_latency: Histogram
    realtime_latency: Histogram
    realtime_latency_slo: Gauge
    batch_size: Histogram
    publish_latency: Histogram
    ingest_requests: Counter
    ingest_identity_requests: Counter
    source_replay_lag: Gauge
    held_children: Gauge
    held_children_oldest_age: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        """Register every family on `registry` (a fresh one when omitted)."""
        reg = registry if registry is not None else CollectorRegistry()
        return cls(registry=reg, **_pipeline(reg), **_salesforce(reg), **_latency(reg), **_edges(reg))


def _pipeline(reg: CollectorRegistry) -> dict[str, Any]:
    """The processor's and the sink's records: outcomes, skips, rejections, dead letters, lag, batch sizes."""
    return {
        "events": Counter(
            "bridge_events_total",
            "Events handled, by topic and outcome (published, consumed, written, skipped, dead_lettered).",
            ["topic", "outcome"],
            registry=reg,
        ),
        "dedupe_skips": Counter(
            "bridge_dedupe_skips_total",
            "Events skipped by the processor without a write, by reason.",
            ["reason"],
            registry=reg,
        ),
        "validation_failures": Counter(
            "bridge_validation_failures_total",
            "Records rejected before any API call, by SObject and rule (or field check).",
            ["sobject", "rule"],
            registry=reg,
        ),
        "dead_letters": Counter(
            "bridge_dead_letters_total",
            "Records written to the dead-letter topic, by stage and reason.",
            ["stage", "reason"],
            registry=reg,
        ),
        "rules_not_evaluable": Counter(
            "bridge_validation_rules_not_evaluable_total",
            "Validation rules the local evaluator could not decide for a record (the record went on to "
            "Salesforce or to the DLQ, by policy), by SObject and rule.",
            ["sobject", "rule"],
            registry=reg,
        ),
        "consumer_lag": Gauge(
            "bridge_consumer_lag_records",
            "Records between the committed offset and the log end, by consumer group, topic and partition.",
            ["group", "topic", "partition"],
            registry=reg,
        ),
        "batch_size": Histogram(
            "bridge_batch_size_records",
            "Records per Salesforce write, by path (collections, bulk).",
            ["path"],
            buckets=_BATCH_BUCKETS,
            registry=reg,
        ),
    }


def _salesforce(reg: CollectorRegistry) -> dict[str, Any]:
    """Salesforce calls and the API budget: calls, limit and CPU errors, retries, grants, the budget, the bucket."""
    return {
        "api_calls": Counter(
            "bridge_salesforce_api_calls_total",
            "Salesforce API requests, by kind (upsert, collections, composite, query, bulk, ...) and outcome.",
            ["kind", "outcome"],
            registry=reg,
        ),
        "api_limit_errors": Counter(
            "bridge_salesforce_limit_errors_total",
            "REQUEST_LIMIT_EXCEEDED answers received. The governor exists so this stays at zero.",
            registry=reg,
        ),
        "trigger_cpu_errors": Counter(
            "bridge_salesforce_trigger_cpu_errors_total",
            "Writes rejected with 'Apex CPU time limit exceeded', by SObject.",
            ["sobject"],
            registry=reg,
        ),
        "retries": Counter(
            "bridge_retries_total",
            "Retried operations, by component and reason.",
            ["component", "reason"],
            registry=reg,
        ),
        "granted_calls": Counter(
            "bridge_governor_granted_calls_total",
            "API calls the governor granted, by lane (a Bulk API job is granted its estimated calls).",
            ["lane"],
            registry=reg,
        ),
        "api_daily_limit": Gauge(
            "bridge_api_daily_limit_calls",
            "The org's daily API request allocation, as Salesforce last reported it.",
            registry=reg,
        ),
        "api_budget_used": Gauge(
            "bridge_api_budget_used_calls",
            "API requests used in the rolling 24-hour window, org-wide, as last reported.",
            registry=reg,
        ),
        "api_budget_remaining": Gauge(
            "bridge_api_budget_remaining_calls",
            "API requests the governor may still spend in the window, by lane.",
            ["lane"],
            registry=reg,
        ),
        "token_bucket_level": Gauge(
            "bridge_token_bucket_calls",
            "Calls currently available in the batch token bucket.",
            registry=reg,
        ),
        "inflight_requests": Gauge(
            "bridge_salesforce_inflight_requests",
            "Salesforce requests in flight (bounded by the concurrency cap).",
            registry=reg,
        ),
    }


def _latency(reg: CollectorRegistry) -> dict[str, Any]:
    """Latencies (writes, real-time edits and their objective, publishing) and the children the sink holds."""
    return {
        "write_latency": Histogram(
            "bridge_write_latency_seconds",
            "Time from sending a write to Salesforce until its outcome is known, by SObject and path.",
            ["sobject", "path"],
            buckets=_LATENCY_BUCKETS_S,
            registry=reg,
        ),
        "realtime_latency": Histogram(
            "bridge_realtime_latency_seconds",
            "Real-time lane, end to end: from the broker's timestamp of the event's domain record (ingest time) "
            "until Salesforce accepted the write.",
            buckets=_REALTIME_BUCKETS_S,
            registry=reg,
        ),
        "realtime_latency_slo": Gauge(
            "bridge_realtime_latency_slo_seconds",
            "The configured objective for the real-time lane's p99 latency (sink.realtime_slo_s).",
            registry=reg,
        ),
        "publish_latency": Histogram(
            "bridge_publish_latency_seconds",
            "Time from publish() until the broker acknowledged the event.",
            buckets=_LATENCY_BUCKETS_S,
            registry=reg,
        ),
        "held_children": Gauge(
            "bridge_sink_held_children",
            "Child records the sink holds (no calls spent) until their parent's outcome is known.",
            registry=reg,
        ),
        "held_children_oldest_age": Gauge(
            "bridge_sink_held_children_oldest_age_seconds",
            "How long the oldest held child has waited for its parent (0 when none is held).",
            registry=reg,
        ),
    }


def _edges(reg: CollectorRegistry) -> dict[str, Any]:
    """The edges of the bridge: the ingest's requests and the source's replay lag."""
    return {
        "ingest_requests": Counter(
            "bridge_ingest_requests_total",
            "HTTP ingest requests, by status code.",
            ["status"],
            registry=reg,
        ),
        "ingest_identity_requests": Counter(
            "bridge_ingest_identity_requests_total",
            "Authenticated HTTP ingest requests, by identity, credential (token id, mtls) and status code.",
            ["identity", "credential", "status"],
            registry=reg,
        ),
        "source_replay_lag": Gauge(
            "bridge_source_checkpoint_age_seconds",
            "Age of the newest committed replay-id checkpoint, by channel.",
            ["channel"],
            registry=reg,
        ),
    }
