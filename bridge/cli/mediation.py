"""`crm-bridge mediation status|enable|disable`: the integration user's trigger bypass (Integration_Bypass__c).

crm-bridge mediation status                          # the user named by BRIDGE_SALESFORCE__USERNAME
crm-bridge mediation enable                          # All__c on that user's own record
crm-bridge mediation enable --group Rollups --group Notifications
crm-bridge mediation disable --user sync@example.com # every flag off on that user's record

Exit status: 0 done; 1 Salesforce refused or failed; 2 usage (unknown group, no user); 3 with `status --exit-code`
when nothing is bypassed for the user; 75 a temporary failure (retry later).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bridge.config import Settings
from bridge.errors import BridgeError, ConfigError
from bridge.mediation import Mediation, MediationStatus, SetupClient, TriggerState, load_trigger_map

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BYPASS_OFF = 3
EXIT_TEMPFAIL = 75

ClientFactory = Callable[[Settings], AbstractAsyncContextManager[SetupClient]]
_STATE_STYLE = {
    TriggerState.BYPASSED: "green",
    TriggerState.PARTLY_BYPASSED: "yellow",
    TriggerState.RUNS: "red",
    TriggerState.INACTIVE: "dim",
    TriggerState.UNMANAGED: "red",
}


def salesforce_client(settings: Settings) -> AbstractAsyncContextManager[SetupClient]:
    """The real client for the org the settings name."""
    from bridge.salesforce import SalesforceClient, auth_from_settings  # noqa: PLC0415 - httpx loads on use

    return SalesforceClient(settings.salesforce, auth_from_settings(settings.salesforce))


def render(status: MediationStatus, console: Console) -> None:
    """The user's flags and the triggers' states as two tables."""
    record = status.user_record.id if status.user_record else "none (inherits profile / org default)"
    console.print(f"[bold]{status.user.username}[/] ({status.user.id}); own record: {record}")
    flags = Table("flag", "effective", "from")
    for name, flag in status.effective.items():
        flags.add_row(name, "on" if flag.value else "off", str(flag.source or "not set"))
    console.print(flags)
    triggers = Table("trigger", "object", "state", "bypassed", "still running")
    for trigger in status.triggers:
        running = [*trigger.running_flags, *(["essential"] if trigger.essential else [])]
        style = _STATE_STYLE[trigger.state]
        state = f"[{style}]{trigger.state}[/]"
        triggers.add_row(trigger.name, trigger.sobject, state, ", ".join(trigger.bypassed_flags), ", ".join(running))
    console.print(triggers)


def _run(ctx: click.Context, user: str | None, map_file: Path | None, action: str, groups: tuple[str, ...]) -> None:
    factory: ClientFactory = ctx.obj if callable(ctx.obj) else salesforce_client
    settings = Settings()
    username = user or settings.salesforce.username
    if not username:
        raise click.UsageError("no integration user: pass --user or set BRIDGE_SALESFORCE__USERNAME")
    try:
        trigger_map = load_trigger_map(map_file)
        for group in groups:
            trigger_map.flag_for(group)  # refuse an unknown group before any call
    except ConfigError as exc:
        raise click.UsageError(exc.message) from exc

    async def go() -> MediationStatus:
        async with factory(settings) as client:
            mediation = Mediation(client, trigger_map)
            calls: dict[str, Callable[[], Awaitable[MediationStatus]]] = {
                "status": lambda: mediation.status(username),
                "enable": lambda: mediation.enable(username, groups),
                "disable": lambda: mediation.disable(username, groups),
            }
            return await calls[action]()

    try:
        status = asyncio.run(go())
    except BridgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_TEMPFAIL if exc.retryable else EXIT_FAILED)
    render(status, Console())
    ctx.meta["mediation_status"] = status


_user = click.option("--user", default=None, help="Integration user's username (default: salesforce.username).")
_map = click.option(
    "--map",
    "map_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Trigger map TOML (default: the packaged one that mirrors salesforce/).",
)
_groups = click.option("--group", "groups", multiple=True, help="Bypass group, e.g. Rollups (repeatable).")


@click.group("mediation")
def mediation() -> None:
    """Show and change which Apex triggers the integration user's writes bypass."""


@mediation.command("status")
@_user
@_map
@click.option("--exit-code", is_flag=True, help=f"Exit {EXIT_BYPASS_OFF} when nothing is bypassed for the user.")
@click.pass_context
def status(ctx: click.Context, user: str | None, map_file: Path | None, exit_code: bool) -> None:
    """The user's effective flags and what each trigger does on its writes."""
    _run(ctx, user, map_file, "status", ())
    found: MediationStatus = ctx.meta["mediation_status"]
    if exit_code and not found.bypass_on:
        sys.exit(EXIT_BYPASS_OFF)


@mediation.command("enable")
@_user
@_groups
@_map
@click.pass_context
def enable(ctx: click.Context, user: str | None, groups: tuple[str, ...], map_file: Path | None) -> None:
    """Bypass the groups' handlers (all bypassable handlers when no --group) for the user."""
    _run(ctx, user, map_file, "enable", groups)


@mediation.command("disable")
@_user
@_groups
@_map
@click.pass_context
def disable(ctx: click.Context, user: str | None, groups: tuple[str, ...], map_file: Path | None) -> None:
    """Stop bypassing the groups' handlers (every flag when no --group) for the user."""
    _run(ctx, user, map_file, "disable", groups)
