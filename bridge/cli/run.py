"""`crm-bridge run ROLE`: run one role of a deployment (processor, sink, source, ingest) or `all` of them.

crm-bridge run sink                     # one role, settings from BRIDGE_* variables
crm-bridge run all                      # every role, each in its own process, metrics on consecutive ports
crm-bridge run processor --org-dir catalog/

SIGTERM or SIGINT stops the role gracefully: no new records are taken, in-flight batches finish or are abandoned
without committing their offsets, so a restart redoes them (harmlessly: every write is an upsert by external ID).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from bridge.config import Settings

if TYPE_CHECKING:
    from bridge.runtime.roles import Role
from bridge.errors import BridgeError

_CHOICES = ("processor", "sink", "source", "ingest", "all")


@click.command("run")
@click.argument("role", type=click.Choice(_CHOICES))
@click.option(
    "--org-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Processor: validation metadata from this org snapshot (default: processor.org_dir, else read the org).",
)
@click.pass_context
def run(ctx: click.Context, role: str, org_dir: Path | None) -> None:
    """Run ROLE until SIGTERM/SIGINT; /metrics, /healthz and /readyz are served on metrics.host:metrics.port."""
    from bridge.kafka.processes import end_with_parent_if_asked  # noqa: PLC0415

    end_with_parent_if_asked()
    settings = Settings()
    log_level = ctx.find_root().params.get("log_level", "INFO")
    try:
        if role == "processor":
            from bridge.runtime.roles import run_processor  # noqa: PLC0415

            run_processor(settings, org_dir or settings.processor.org_dir, log_level.lower())
        elif role == "all":
            sys.exit(asyncio.run(_run_all(settings, org_dir)))
        else:
            asyncio.run(_run_one(cast("Role", role), settings))
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from exc


async def _run_one(role: Role, settings: Settings) -> None:
    from bridge.metrics import Metrics  # noqa: PLC0415
    from bridge.runtime.roles import role_runner  # noqa: PLC0415

    stop = _stop_on_signals()
    await role_runner(role)(settings, Metrics.create(), stop)


def roles_for_all(settings: Settings) -> tuple[Role, ...]:
    """The roles `run all` starts: the ingest only when it can authenticate (a token file) or was told not to."""
    from bridge.runtime.roles import ROLES  # noqa: PLC0415

    ingest = settings.ingest
    if ingest.auth == "none" or ingest.tokens_file is not None:
        return ROLES
    click.echo(
        "run all: not starting the ingest: it needs BRIDGE_INGEST__TOKENS_FILE (crm-bridge ingest token add).",
        err=True,
    )
    return tuple(role for role in ROLES if role != "ingest")


async def _run_all(settings: Settings, org_dir: Path | None) -> int:
    from bridge.runtime.supervisor import plan, supervise  # noqa: PLC0415

    roles = roles_for_all(settings)
    extra = ("--org-dir", str(org_dir)) if org_dir else ()
    children = [c for c in plan(roles, settings.metrics.port) if c.role != "processor"]
    children += [c for c in plan(roles, settings.metrics.port, extra) if c.role == "processor"]
    return await supervise(sorted(children, key=lambda c: c.metrics_port), _stop_on_signals())


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
