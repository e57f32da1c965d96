"""Wiring and running one processor worker: settings → core → faust app → faust Worker (blocking).

    python -m bridge.processor --org-dir catalog/ [--metrics-port 9108]

Settings come from the environment (`BRIDGE_*`). The source topics are `processor.source_topics`, or else
the topics the event schemas name. Validation metadata comes from an org snapshot (`crm-bridge catalog`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import start_http_server

from bridge.catalog.snapshot import load_snapshot
from bridge.config import Settings
from bridge.events import SchemaRegistry
from bridge.kafka.topics import ensure_topics, processor_topics
from bridge.metrics import Metrics
from bridge.processing.batch import BatchContext
from bridge.processing.dedupe import DedupeConfig
from bridge.processing.mapping import default_mappings_dir, load_mappings
from bridge.processing.pipeline import Pipeline
from bridge.processing.rules import RuleCompiler, compile_rules, formula_compiler, unevaluated
from bridge.processing.validation import NotEvaluablePolicy, Validator
from bridge.processor.app import ProcessorApp, ProcessorWiring, build_app


def build_context(settings: Settings, org_dir: Path, compiler: RuleCompiler = unevaluated) -> BatchContext:
    """The core of a worker from settings, the event schemas, the mappings and an org snapshot."""
    processor = settings.processor
    schemas_dir = processor.schemas_dir
    registry = SchemaRegistry.load(schemas_dir)
    mappings = load_mappings(schemas_dir / "mappings" if schemas_dir else default_mappings_dir())
    org = load_snapshot(org_dir)
    validator = Validator(org.objects, compile_rules(org.rules, org.objects, compiler))
    pipeline = Pipeline(
        mappings,
        validator,
        NotEvaluablePolicy(processor.not_evaluable),
        DedupeConfig(recent_event_ids=processor.recent_event_ids),
    )
    return BatchContext(pipeline, registry, settings.topics, settings.publisher.max_event_bytes)


def source_topics(settings: Settings, context: BatchContext) -> tuple[str, ...]:
    """The configured source topics, or every topic the registered event types are published on and every
    Debezium topic a mapping names."""
    debezium = tuple(sorted(context.pipeline.mappings.debezium_topics))
    return settings.processor.source_topics or tuple(dict.fromkeys((*context.registry.topics, *debezium)))


def build_worker_app(settings: Settings, org_dir: Path, metrics: Metrics) -> ProcessorApp:
    """The faust app of one worker, fully wired."""
    context = build_context(settings, org_dir, default_compiler(settings))
    return build_app(ProcessorWiring(settings, context, metrics, source_topics(settings, context)))


def default_compiler(settings: Settings | None = None) -> RuleCompiler:
    """The formula engine that compiles the org's validation rules, with the configured merge fields."""
    merge = settings.processor.merge_fields if settings is not None else {}
    return formula_compiler(merge, clock=lambda: datetime.now(UTC))


def run_worker(settings: Settings, org_dir: Path, *, metrics_port: int | None, log_level: str = "info") -> None:
    """Run one worker until SIGTERM/SIGINT (faust's Worker owns the event loop and the signals)."""
    import faust.worker  # noqa: PLC0415 - faust is heavy and belongs to the edge; load it only to run

    metrics = Metrics.create()
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.metrics.host, registry=metrics.registry)
    built = build_worker_app(settings, org_dir, metrics)
    # Before faust's consumer subscribes: a domain topic that no source system has published to yet exists with
    # the deployment's partitions (faust itself declares only its internal topics, and its assignor ignores a
    # subscribed topic that is missing at the rebalance).
    asyncio.run(ensure_topics(settings.kafka, processor_topics(settings, built.source_topics)))
    faust.worker.Worker(built.app, loglevel=log_level, quiet=True).execute_from_commandline()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bridge.processor`: one worker from the environment's settings."""
    parser = argparse.ArgumentParser(prog="python -m bridge.processor")
    parser.add_argument("--org-dir", type=Path, required=True, help="an org snapshot (crm-bridge catalog)")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on this port")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(Settings(), args.org_dir, metrics_port=args.metrics_port, log_level=args.log_level)
