"""`crm-bridge emulator`: serve an emulated Salesforce org over HTTP(S) until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bridge.emulator import EmulatorServer, Org


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The command's options, typed."""

    host: str
    port: int
    org: str
    daily_limit: int | None
    latency_ms: float
    speed: float
    tls: bool
    certfile: str | None
    keyfile: str | None
    pubsub_port: int | None
    lock_error_rate: float
    seed: int
    faults: tuple[str, ...] = ()
    pubsub_tls: bool = False


def build_org(options: ServeOptions) -> Org:
    """The org the options describe: profile, limit, latency model and faults."""
    from bridge.emulator import LatencyModel, Org, ProfileError, is_bundled_name, load_profile  # noqa: PLC0415 - commands load their modules on use  # noqa: PLC0415

    try:
        profile = load_profile(options.org if is_bundled_name(options.org) else Path(options.org))
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc
    org = Org(profile, daily_limit=options.daily_limit, latency=LatencyModel(speed=options.speed), seed=options.seed)
    org.faults.lock_error_rate = options.lock_error_rate
    if options.latency_ms:
        org.faults.add("latency", latency_ms=options.latency_ms, count=None)
    for fault in options.faults:
        kind, path, count = parse_fault(fault)
        org.faults.add(kind, path=path, count=count)
    return org


def parse_fault(text: str) -> tuple[str, str, int | None]:
    """`KIND[:PATH[:COUNT]]` (e.g. `unavailable:/services/data/v62.0/composite:3`); no count means always."""
    kind, _, rest = text.partition(":")
    path, _, count = rest.partition(":")
    try:
        return kind, path, int(count) if count else None
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: COUNT must be a number", param_hint="--fault") from exc


async def serve(options: ServeOptions) -> None:
    """Run the emulator until SIGINT or SIGTERM."""
    from bridge.emulator import EmulatorServer  # noqa: PLC0415

    org = build_org(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(
        org,
        options.host,
        options.port,
        tls=options.tls,
        certfile=options.certfile,
        keyfile=options.keyfile,
        pubsub_port=options.pubsub_port,
        pubsub_tls=options.pubsub_tls,
    )
    async with server:
        announce(server, org)
        await stop.wait()
    click.echo("emulator stopped")


def announce(server: EmulatorServer, org: Org) -> None:
    """Print where the org is served and its test credentials."""
    click.echo(f"Salesforce emulator for {org.profile.org_name} ({org.profile.org_id})")
    click.echo(f"  instance URL    {server.url}")
    click.echo(f"  token endpoint  {server.url}/services/oauth2/token")
    if server.certfile is not None:
        click.echo(f"  certificate     {server.certfile}")
    if server.pubsub_target:
        transport = "gRPC over TLS, the certificate above" if server.pubsub_tls else "plaintext gRPC"
        click.echo(f"  Pub/Sub API     {server.pubsub_target} ({transport})")
    click.echo(f"  daily API limit {org.api_usage.limit}")
    for app in org.profile.connected_apps:
        # The bundled profile's secrets are fixed test values published in the docs; others stay unprinted.
        secret = app.client_secret if app.client_secret.startswith("emulator-") else "(see the profile file)"
        click.echo(f"  client_id={app.client_id} client_secret={secret} runs as {app.run_as}")
    click.echo("  control API     /__emulator__/ (faults, clock, inspection)")


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8443, show_default=True, type=int, help="Port (0 = any free port).")
@click.option(
    "--org", default="default", show_default=True, help="Bundled profile (default, messy) or a profile JSON file."
)
@click.option("--daily-limit", type=int, default=None, help="Daily API request allocation (default: the profile's).")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Extra latency on every request.")
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="Scale of the latency model (1 realistic, 0 none)."
)
@click.option("--tls/--no-tls", default=False, show_default=True, help="HTTPS with a generated self-signed cert.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), default=None, help="PEM cert for HTTPS.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="PEM key for --certfile.")
@click.option("--pubsub-port", type=int, default=None, help="Also serve the gRPC Pub/Sub API (0 = any free port).")
@click.option("--pubsub-tls/--no-pubsub-tls", default=False, show_default=True, help="Serve the Pub/Sub API over TLS.")
@click.option(
    "--lock-error-rate", type=float, default=0.0, show_default=True, help="Share of saves failing UNABLE_TO_LOCK_ROW."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for injected faults, so a run repeats.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="KIND[:PATH[:COUNT]] with KIND in latency, unavailable, drop_after_write, unable_to_lock_row, "
    "expire_session; repeatable.",
)
def emulator(
    *,
    host: str,
    port: int,
    org: str,
    daily_limit: int | None,
    latency_ms: float,
    speed: float,
    tls: bool,
    certfile: str | None,
    keyfile: str | None,
    pubsub_port: int | None,
    pubsub_tls: bool,
    lock_error_rate: float,
    seed: int,
    faults: tuple[str, ...],
) -> None:
    """Serve an emulated Salesforce org: OAuth, REST, Collections, Composite, query, Bulk API 2.0, limits."""
    options = ServeOptions(
        host=host,
        port=port,
        org=org,
        daily_limit=daily_limit,
        latency_ms=latency_ms,
        speed=speed,
        tls=tls,
        certfile=certfile,
        keyfile=keyfile,
        pubsub_port=pubsub_port,
        pubsub_tls=pubsub_tls,
        lock_error_rate=lock_error_rate,
        seed=seed,
        faults=faults,
    )
    for fault in faults:
        kind = parse_fault(fault)[0]
        if kind not in {"latency", "unavailable", "drop_after_write", "unable_to_lock_row", "expire_session"}:
            raise click.BadParameter(f"unknown fault kind {kind!r}", param_hint="--fault")
    asyncio.run(serve(options))
