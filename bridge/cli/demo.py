"""`crm-bridge demo`: the nightly sync end to end on a local deployment, with progress bars and a report.

    crm-bridge demo                                  # 42,000 accounts + 12,200 opportunities, report.json
    crm-bridge demo --accounts 2000 --opportunities 600
    crm-bridge demo --daily-limit 250                # a budget below the Collections minimum: Bulk API jobs
    crm-bridge demo --publish-only --events 100000   # only the Publisher: publish, read back, compare

Exit status 1 when any invariant failed (the report says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
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
    from bridge.kafka.local import LocalKafka as local_kafka  # noqa: PLC0415, N813 - loaded only when needed

    console.print("starting a local Kafka broker ...")
    with local_kafka() as kafka:
        console.print(f"local Kafka at {kafka.bootstrap_servers}")
        kafka_settings = settings.kafka.model_copy(update={"bootstrap_servers": kafka.bootstrap_servers})
        yield settings.model_copy(update={"kafka": kafka_settings})


@click.command("demo")
@click.option("--accounts", default=42_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--opportunities", default=12_200, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".cache/demo"),
    show_default=True,
    help="Logs of the roles, the org snapshot and report.json go here.",
)
@click.option(
    "--daily-limit",
    default=15_000,
    show_default=True,
    type=click.IntRange(100, 10_000_000),
    help="The emulated org's daily API request limit (below the sync's Collections minimum, Bulk API jobs carry it).",
)
@click.option("--latency/--no-latency", default=True, show_default=True, help="Realistic emulator latency.")
@click.option("--trigger-bypass/--no-trigger-bypass", default=True, show_default=True)
@click.option("--publish-only", is_flag=True, help="Only publish demo events and read them back (no sync).")
@click.option("--events", "count", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--bootstrap-servers", default=None, help="Use this Kafka cluster instead of starting a local broker.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout (bars and words on stderr).")
@click.option(
    "--chaos",
    is_flag=True,
    help="On 3 brokers with 2 processors and 2 sinks, kill -9 roles and a broker, inject Salesforce faults, "
    "rebalance; check every invariant (default scale 4,200 + 1,220).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="--chaos: the fault schedule's seed.")
@click.option(
    "--kills-per-role", default=2, show_default=True, type=click.IntRange(1, 10), help="--chaos: kills per instance."
)
def demo(
    *,
    accounts: int,
    opportunities: int,
    workdir: Path,
    daily_limit: int,
    latency: bool,
    trigger_bypass: bool,
    publish_only: bool,
    count: int,
    bootstrap_servers: str | None,
    as_json: bool,
    chaos: bool,
    seed: int,
    kills_per_role: int,
) -> None:
    """Run the nightly sync end to end on a local deployment and report on every invariant."""
    if chaos:
        _chaos(accounts, opportunities, workdir, seed=seed, kills=kills_per_role, latency=latency, as_json=as_json)
        return
    if publish_only:
        _publish_only(count, bootstrap_servers)
        return
    if bootstrap_servers:
        os.environ["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap_servers
    # The emulator's gRPC server runs in this process while the roles are started with fork+exec: gRPC's fork
    # handlers are not needed (the children exec at once) and only log noise.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    from bridge.cli.demo_nightly import run_nightly_demo  # noqa: PLC0415

    options = {
        "accounts": accounts,
        "opportunities": opportunities,
        "workdir": workdir.resolve(),
        "daily_limit": daily_limit,
    }
    ok = run_nightly_demo(
        options, latency_speed=1.0 if latency else 0.0, trigger_bypass=trigger_bypass, as_json=as_json
    )
    if not ok:
        raise SystemExit(1)


def _chaos(
    accounts: int, opportunities: int, workdir: Path, *, seed: int, kills: int, latency: bool, as_json: bool
) -> None:
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    from bridge.cli.demo_chaos import run_chaos_demo  # noqa: PLC0415
    from bridge.demo.chaos import ChaosOptions  # noqa: PLC0415

    click_source = click.get_current_context().get_parameter_source
    options = ChaosOptions(
        workdir=workdir.resolve(),
        accounts=accounts if click_source("accounts") is not click.core.ParameterSource.DEFAULT else 4_200,
        opportunities=opportunities
        if click_source("opportunities") is not click.core.ParameterSource.DEFAULT
        else 1_220,
        seed=seed,
        kills_per_instance=kills,
        latency_speed=1.0 if latency else 0.0,
    )
    if not run_chaos_demo(options, as_json=as_json):
        raise SystemExit(1)


def _publish_only(count: int, bootstrap_servers: str | None) -> None:
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
