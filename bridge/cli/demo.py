"""`crm-bridge demo`: the interim demo. Starts a local broker (unless one is configured), publishes, verifies.

    crm-bridge demo                      # 20,000 events to a local Kafka broker, read back and compared
    crm-bridge demo --events 100000

Exit status 1 when any event was lost, duplicated, altered or not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from bridge.config import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from bridge.demo.run import DemoReport


@contextlib.contextmanager
def _broker(settings: Settings, console: Console) -> Iterator[Settings]:
    if settings.kafka.bootstrap_servers:
        console.print(f"using Kafka at {settings.kafka.bootstrap_servers}")
        yield settings
        return
    # Imported by name until bridge.kafka.local lands in the tree; only needed when no cluster is configured.
    local_kafka = importlib.import_module("bridge.kafka.local").LocalKafka

    console.print("starting a local Kafka broker ...")
    with local_kafka() as kafka:
        console.print(f"local Kafka at {kafka.bootstrap_servers}")
        kafka_settings = settings.kafka.model_copy(update={"bootstrap_servers": kafka.bootstrap_servers})
        yield settings.model_copy(update={"kafka": kafka_settings})


@click.command("demo")
@click.option("--events", "count", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--bootstrap-servers", default=None, help="Use this Kafka cluster instead of starting a local broker.")
def demo(count: int, bootstrap_servers: str | None) -> None:
    """Publish deterministic customer and deal events through the Publisher and prove none is lost."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    from bridge.demo.run import run_demo  # noqa: PLC0415
    from bridge.errors import BridgeError  # noqa: PLC0415

    settings = Settings()
    if bootstrap_servers:
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})}
        )
    console = Console()
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _broker(settings, console) as live, Progress(*columns, console=console) as progress:
        publishing = progress.add_task("publishing", total=count)
        reading = progress.add_task("reading back", total=count)
        try:
            report = asyncio.run(
                run_demo(
                    live,
                    count,
                    run_id=f"demo-{uuid.uuid4().hex[:8]}",
                    on_published=lambda n: progress.update(publishing, completed=n),
                    on_read=lambda n: progress.update(reading, completed=min(n, count)),
                )
            )
        except BridgeError as exc:
            raise click.ClickException(exc.message) from exc
    _summary(console, report)
    if not report.ok:
        raise SystemExit(1)


def _summary(console: Console, report: DemoReport) -> None:
    from rich.table import Table  # noqa: PLC0415

    r = report.reconciliation
    table = Table(title=f"demo: {', '.join(report.topics)}", show_header=False)
    rows = [
        ("published (acknowledged)", f"{report.published:,}"),
        ("not acknowledged", f"{report.not_published:,}"),
        ("read back", f"{r.read_back:,}"),
        ("lost", f"{len(r.lost):,}"),
        ("duplicated", f"{len(r.duplicated):,}"),
        ("altered", f"{len(r.altered):,}"),
        ("publish rate", f"{report.events_per_s:,.0f} events/s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print("[green]OK: every event came back exactly once[/]" if report.ok else "[red]FAILED[/]")
