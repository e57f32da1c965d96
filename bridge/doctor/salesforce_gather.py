"""Reads the Salesforce facts the doctor checks (login, versions, `/limits`, the bypass), within a deadline each.

Every failure becomes a message in `SalesforceFacts`; none is raised. Messages come from the bridge's mapped
errors, which never carry the credentials sent (the runner redacts secrets from every finding all the same).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import httpx

from bridge.config import Settings
from bridge.doctor.facts import ApiBudget, SalesforceFacts, describe_error
from bridge.errors import BridgeError
from bridge.mediation import TriggerMap, bypass_check
from bridge.runtime.salesforce_roles import salesforce_client
from bridge.salesforce import SalesforceClient, ServerUnavailable, TransportError
from bridge.salesforce.responses import json_body

T = TypeVar("T")
_FAILURES = (BridgeError, httpx.HTTPError, OSError, TimeoutError, ValueError, KeyError, TypeError)
_UNREACHABLE = (TimeoutError, TransportError, ServerUnavailable)
ClientFactory = Callable[[Settings], SalesforceClient]


class _Step:
    """Runs one gathering step under the deadline; the value, or None and the failure in plain words."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    async def __call__(self, work: Callable[[], Awaitable[T]]) -> tuple[T | None, BaseException | None]:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await work(), None
        except _FAILURES as exc:
            return None, exc

    def text(self, exc: BaseException | None) -> str | None:
        """The failure in plain words (None when there was none)."""
        return describe_error(exc, self.timeout_s) if exc is not None else None


async def gather_salesforce(
    settings: Settings,
    timeout_s: float,
    *,
    trigger_map: TriggerMap | None = None,
    client_factory: ClientFactory = salesforce_client,
) -> SalesforceFacts:
    """Log in, then read the API versions, the daily API budget and the integration user's bypass."""
    sf = settings.salesforce
    base = SalesforceFacts(login_url=sf.login_url, api_version=sf.api_version, username=sf.username)
    try:
        client = client_factory(settings)
    except (BridgeError, OSError, ValueError) as exc:
        return replace(base, config_error=describe_error(exc, timeout_s))
    step = _Step(timeout_s)
    async with client:
        session, auth_error = await step(client.session)
        if session is None:
            unreachable = isinstance(auth_error, _UNREACHABLE)
            return replace(base, auth_error=step.text(auth_error), auth_unreachable=unreachable)
        versions, versions_error = await step(lambda: _versions(client))
        budget, budget_error = await step(lambda: _budget(client))
        warnings, bypass_error = await step(lambda: bypass_check(client, sf.username, trigger_map))
    if warnings is None:
        warnings = [f"Could not read the integration user's trigger bypass: {step.text(bypass_error)}."]
    return replace(
        base,
        instance_url=session.instance_url,
        versions=versions,
        versions_error=step.text(versions_error),
        budget=budget,
        budget_error=step.text(budget_error),
        bypass_warnings=tuple(warnings),
    )


async def _versions(client: SalesforceClient) -> tuple[str, ...]:
    response = await client.request("versions", "GET", "/services/data")
    return tuple(str(v["version"]) for v in json_body(response))


async def _budget(client: SalesforceClient) -> ApiBudget:
    daily = (await client.limits())["DailyApiRequests"]
    return ApiBudget(int(daily["Max"]), int(daily["Remaining"]))
