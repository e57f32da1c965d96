"""Salesforce checks as pure functions of gathered facts: login, API version, budget vs reserve, bypass."""

from __future__ import annotations

import pytest

from bridge.config import GovernorSettings
from bridge.doctor import ApiBudget, SalesforceFacts, Status, assess_budget, salesforce_findings
from bridge.doctor.findings import Finding

GOVERNOR = GovernorSettings(realtime_reserve=0.2, safety_margin_calls=50)
USER = "integration@example.com"


def healthy(**changes: object) -> SalesforceFacts:
    base: dict[str, object] = {
        "login_url": "https://login.salesforce.com",
        "api_version": "62.0",
        "username": USER,
        "instance_url": "https://acme.my.salesforce.com",
        "versions": ("61.0", "62.0", "63.0"),
        "budget": ApiBudget(15_000, 14_000),
        "bypass_warnings": (),
    }
    base.update(changes)
    return SalesforceFacts(**base)  # type: ignore[arg-type]


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.check: f.status for f in findings}


def test_healthy_org_is_all_ok() -> None:
    findings = salesforce_findings(healthy(), "jwt_bearer", GOVERNOR)
    assert set(statuses(findings).values()) == {Status.OK}
    assert list(statuses(findings)) == [
        "salesforce.auth",
        "salesforce.api_version",
        "salesforce.budget",
        "salesforce.bypass",
    ]


def test_incomplete_settings_are_one_failure() -> None:
    facts = SalesforceFacts("https://login.salesforce.com", "62.0", config_error="salesforce.client_id is required")
    (finding,) = salesforce_findings(facts, "jwt_bearer", GOVERNOR)
    assert finding.status is Status.FAIL
    assert "client_id is required" in finding.message


@pytest.mark.parametrize(
    ("flow", "unreachable", "fix_mentions"),
    [
        ("jwt_bearer", False, "PRIVATE_KEY_FILE"),
        ("client_credentials", False, "CLIENT_SECRET"),
        ("client_credentials", True, "LOGIN_URL"),
    ],
)
def test_login_failure_stops_and_says_what_to_check(flow: str, unreachable: bool, fix_mentions: str) -> None:
    facts = SalesforceFacts(
        "https://login.salesforce.com", "62.0", auth_error="invalid_client: bad", auth_unreachable=unreachable
    )
    (finding,) = salesforce_findings(facts, flow, GOVERNOR)
    assert (finding.status, finding.check) == (Status.FAIL, "salesforce.auth")
    assert "invalid_client: bad" in finding.message
    assert fix_mentions in finding.fix


def test_unavailable_api_version_fails_with_the_newest_offered() -> None:
    findings = salesforce_findings(
        healthy(api_version="99.0", versions=("9.0", "62.0", "63.0")), "jwt_bearer", GOVERNOR
    )
    (finding,) = [f for f in findings if f.check == "salesforce.api_version"]
    assert finding.status is Status.FAIL
    assert finding.fix == "set BRIDGE_SALESFORCE__API_VERSION=63.0."


def test_unreadable_versions_and_limits_warn() -> None:
    facts = healthy(versions=None, versions_error="timeout", budget=None, budget_error="INSUFFICIENT_ACCESS: no")
    found = statuses(salesforce_findings(facts, "jwt_bearer", GOVERNOR))
    assert found["salesforce.api_version"] is Status.WARN
    assert found["salesforce.budget"] is Status.WARN


@pytest.mark.parametrize(
    ("max_calls", "remaining", "expected"),
    [
        (15_000, 15_000, Status.OK),
        (15_000, 3_051, Status.OK),  # reserve: 15,000 * 0.2 + 50 = 3,050
        (15_000, 3_049, Status.WARN),
        (15_000, 51, Status.WARN),
        (15_000, 50, Status.FAIL),  # inside the safety margin: the governor sends nothing
        (15_000, 0, Status.FAIL),
    ],
)
def test_budget_against_reserve_and_margin(max_calls: int, remaining: int, expected: Status) -> None:
    assert assess_budget(ApiBudget(max_calls, remaining), GOVERNOR).status is expected


def test_budget_uses_the_configured_cap_when_lower_than_the_org_limit() -> None:
    capped = GovernorSettings(daily_limit_calls=10_000, realtime_reserve=0.2, safety_margin_calls=50)
    finding = assess_budget(ApiBudget(100_000, 92_000), capped)  # 8,000 used of our 10,000
    assert finding.status is Status.WARN
    assert "8000 of 10000 daily API calls used" in finding.message


def test_each_bypass_warning_is_a_warn_line() -> None:
    lines = ("System syncs run with the trigger bypass off.", "ContactTrigger still runs.")
    findings = [
        f
        for f in salesforce_findings(healthy(bypass_warnings=lines), "jwt_bearer", GOVERNOR)
        if f.check == "salesforce.bypass"
    ]
    assert [(f.status, f.message) for f in findings] == [(Status.WARN, line) for line in lines]
