"""Plain-words warnings about the bypass for `crm-bridge doctor`: system syncs should not fire non-essential triggers.

warnings = await bypass_check(sf, settings.salesforce.username)
for line in warnings:
    print("warning:", line)
"""

from __future__ import annotations

from bridge.errors import BridgeError
from bridge.mediation.bypass import Level, MediationStatus, TriggerState
from bridge.mediation.groups import TriggerMap, load_trigger_map
from bridge.mediation.service import Mediation, SetupClient


def _off_warning(status: MediationStatus) -> str:
    firing = [t.name for t in status.triggers if t.state is TriggerState.RUNS]
    which = f" ({', '.join(firing)} fire on every sync write)" if firing else ""
    return (
        f"System syncs run as {status.user.username} with the trigger bypass off{which}: bulk syncs pay their CPU "
        f"time and can hit the 10 s limit. Run `crm-bridge mediation enable --user {status.user.username}`."
    )


def _org_wide_warnings(status: MediationStatus) -> list[str]:
    lines = []
    for name, flag in status.effective.items():
        if flag.value and flag.source in (Level.ORG, Level.PROFILE):
            lines.append(
                f"{name} is set at the {flag.source} level, not on {status.user.username}'s own record: other users "
                f"sharing that level skip the same triggers. Set it with `crm-bridge mediation enable` instead."
            )
    return lines


def bypass_warnings(status: MediationStatus) -> list[str]:
    """Warnings about one user's bypass: off, partly off, or inherited from a level other users share."""
    if not status.bypass_on:
        return [_off_warning(status)]
    lines = _org_wide_warnings(status)
    for trigger in status.triggers:
        if trigger.state in (TriggerState.RUNS, TriggerState.PARTLY_BYPASSED) and trigger.running_flags:
            flags = ", ".join(trigger.running_flags)
            lines.append(f"{trigger.name} still runs its {flags} handlers on sync writes.")
    return lines


async def bypass_check(client: SetupClient, username: str | None, trigger_map: TriggerMap | None = None) -> list[str]:
    """Read the integration user's bypass and return warnings; a failed read is a warning too, never raised."""
    if not username:
        return ["The integration user's username is not configured (salesforce.username): cannot check the bypass."]
    mediation = Mediation(client, trigger_map or load_trigger_map())
    try:
        status = await mediation.status(username)
    except BridgeError as exc:
        return [f"Could not read the trigger bypass for {username}: {exc}"]
    return bypass_warnings(status)
