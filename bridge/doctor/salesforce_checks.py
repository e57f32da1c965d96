"""Pure checks of the Salesforce side: configuration, login, API version, the daily API budget, the trigger bypass.

findings = salesforce_findings(facts, settings.salesforce.auth_flow, settings.governor)
"""

from __future__ import annotations

from bridge.config import GovernorSettings
from bridge.doctor.facts import ApiBudget, SalesforceFacts
from bridge.doctor.findings import Finding, fail, ok, warn


def salesforce_findings(facts: SalesforceFacts, auth_flow: str, governor: GovernorSettings) -> list[Finding]:
    """Every Salesforce finding; a failed login stops the checks that need a session."""
    if facts.config_error is not None:
        return [
            fail(
                "salesforce.config",
                f"The Salesforce settings are incomplete: {facts.config_error}.",
                "set BRIDGE_SALESFORCE__CLIENT_ID, BRIDGE_SALESFORCE__USERNAME and either "
                "BRIDGE_SALESFORCE__PRIVATE_KEY_FILE (jwt_bearer) or BRIDGE_SALESFORCE__CLIENT_SECRET "
                "(client_credentials).",
            )
        ]
    if facts.auth_error is not None:
        return [_auth_failed(facts, auth_flow)]
    who = facts.username or "the connected app's run-as user"
    findings = [ok("salesforce.auth", f"Logged in to {facts.instance_url} as {who} ({auth_flow}).")]
    findings.append(version_finding(facts))
    findings.append(budget_finding(facts, governor))
    findings.extend(bypass_findings(facts))
    return findings


def _auth_failed(facts: SalesforceFacts, auth_flow: str) -> Finding:
    if facts.auth_unreachable:
        fix = (
            "check BRIDGE_SALESFORCE__LOGIN_URL (https://login.salesforce.com, https://test.salesforce.com for "
            "sandboxes, or the My Domain URL), the network path and proxy, and https://status.salesforce.com."
        )
    elif auth_flow == "jwt_bearer":
        fix = (
            "check BRIDGE_SALESFORCE__CLIENT_ID (the connected app's consumer key), that the certificate uploaded "
            "to the connected app matches BRIDGE_SALESFORCE__PRIVATE_KEY_FILE, and that the integration user is "
            "pre-authorized (its profile or a permission set is admitted by the app)."
        )
    else:
        fix = (
            "check BRIDGE_SALESFORCE__CLIENT_ID and BRIDGE_SALESFORCE__CLIENT_SECRET against the connected app, "
            "and that the app enables the client credentials flow with a run-as user."
        )
    message = f"Cannot log in to {facts.login_url} ({auth_flow}): {facts.auth_error}."
    return fail("salesforce.auth", message, fix)


def version_finding(facts: SalesforceFacts) -> Finding:
    """The configured API version must be one the instance offers (`GET /services/data`)."""
    if facts.versions is None:
        return warn(
            "salesforce.api_version",
            f"Cannot list the API versions: {facts.versions_error}.",
            "check that the instance URL answers GET /services/data.",
        )
    if facts.api_version in facts.versions:
        return ok("salesforce.api_version", f"API version {facts.api_version} is available.")
    newest = max(facts.versions, key=_version_key, default="none")
    return fail(
        "salesforce.api_version",
        f"API version {facts.api_version} is not offered by the instance (newest: {newest}).",
        f"set BRIDGE_SALESFORCE__API_VERSION={newest}.",
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def budget_finding(facts: SalesforceFacts, governor: GovernorSettings) -> Finding:
    """The daily API budget against the governor's real-time reserve and safety margin."""
    if facts.budget is None:
        return warn(
            "salesforce.budget",
            f"Cannot read the API budget (/limits): {facts.budget_error}.",
            "give the integration user the View Setup and Configuration permission.",
        )
    return assess_budget(facts.budget, governor)


def assess_budget(budget: ApiBudget, governor: GovernorSettings) -> Finding:
    """OK, WARN (bulk syncs held back: below the real-time reserve) or FAIL (the governor sends nothing)."""
    limit = budget.max_calls
    if governor.daily_limit_calls is not None:
        limit = min(limit, governor.daily_limit_calls)
    remaining = max(0, limit - budget.used_calls)
    reserve = round(limit * governor.realtime_reserve) + governor.safety_margin_calls
    seen = f"{budget.used_calls} of {limit} daily API calls used in the last 24 hours, {remaining} left"
    wait_fix = (
        "wait until the rolling 24-hour window frees calls, find who spends them (Setup > Company Information, "
        "API Requests, Last 24 Hours; the API usage report), or raise the org's allocation."
    )
    if remaining <= governor.safety_margin_calls:
        return fail(
            "salesforce.budget",
            f"The API budget is spent: {seen} (safety margin {governor.safety_margin_calls}). No writes go out.",
            wait_fix,
        )
    if remaining < reserve:
        return warn(
            "salesforce.budget",
            f"The API budget is nearly spent: {seen}, below the real-time reserve of {reserve}. Bulk syncs wait; "
            "only real-time writes go out.",
            wait_fix,
        )
    return ok("salesforce.budget", f"API budget: {seen} (real-time reserve {reserve}).")


def bypass_findings(facts: SalesforceFacts) -> list[Finding]:
    """The integration user's trigger bypass: each warning of `bypass_check` becomes a WARN line."""
    if facts.bypass_warnings is None:
        return []
    if not facts.bypass_warnings:
        return [ok("salesforce.bypass", f"System syncs as {facts.username} bypass the non-essential triggers.")]
    fix = (
        "see `crm-bridge mediation status`; when the org's bypass setting has other flags than the packaged "
        "trigger map (salesforce/), pass your own with `crm-bridge doctor --map triggers.toml`."
    )
    return [warn("salesforce.bypass", line, fix) for line in facts.bypass_warnings]
