"""`crm-bridge mediation` end to end over the in-memory org: tables, writes and exit codes; the doctor's check."""

from __future__ import annotations

from click.testing import CliRunner

from bridge.cli.main import main
from bridge.cli.mediation import EXIT_BYPASS_OFF, EXIT_FAILED, EXIT_TEMPFAIL, EXIT_USAGE
from bridge.mediation import bypass_check
from bridge.salesforce import ServerUnavailable
from tests.mediation.fake_org import INTEGRATION, FakeOrg
from tests.mediation.test_service import TRIGGERS

USER = ["--user", INTEGRATION["Username"]]


def invoke(org: FakeOrg, *args: str) -> tuple[int, str]:
    env = {"COLUMNS": "200", "BRIDGE_SALESFORCE__USERNAME": None}
    result = CliRunner().invoke(main, ["mediation", *args], obj=org.connect, env=env)
    return result.exit_code, result.output


def test_status_enable_status_disable_round_trip() -> None:
    org = FakeOrg(TRIGGERS)
    code, output = invoke(org, "status", *USER, "--exit-code")
    assert code == EXIT_BYPASS_OFF, output
    assert "own record: none" in output

    code, output = invoke(org, "enable", *USER, "--group", "Rollups", "--group", "Notifications")
    assert code == 0, output
    assert org.writes[0][2] == {"SetupOwnerId": INTEGRATION["Id"], "Rollups__c": True, "Notifications__c": True}
    assert "partly bypassed" in output

    code, output = invoke(org, "status", *USER, "--exit-code")
    assert code == 0, output

    code, output = invoke(org, "disable", *USER)
    assert code == 0, output
    code, _ = invoke(org, "status", *USER, "--exit-code")
    assert code == EXIT_BYPASS_OFF


def test_unknown_group_is_a_usage_error_before_any_call() -> None:
    org = FakeOrg(TRIGGERS)
    code, output = invoke(org, "enable", *USER, "--group", "Billing")
    assert code == EXIT_USAGE
    assert "unknown bypass group 'Billing'" in output
    assert org.writes == []


def test_an_unknown_user_fails_with_a_message() -> None:
    code, output = invoke(FakeOrg(TRIGGERS), "status", "--user", "nobody@example.com")
    assert code == EXIT_FAILED
    assert "no user with the username nobody@example.com" in output


def test_no_user_anywhere_is_a_usage_error() -> None:
    code, output = invoke(FakeOrg(TRIGGERS), "status")
    assert code == EXIT_USAGE
    assert "pass --user or set BRIDGE_SALESFORCE__USERNAME" in output


def test_a_temporary_failure_exits_75_so_a_scheduler_retries() -> None:
    org = FakeOrg(TRIGGERS)
    org.fail_with = ServerUnavailable("SERVER_UNAVAILABLE", "Service Unavailable", status=503)
    code, output = invoke(org, "enable", *USER)
    assert code == EXIT_TEMPFAIL
    assert "error: SERVER_UNAVAILABLE: Service Unavailable" in output


async def test_doctor_check_warns_until_the_bypass_is_enabled() -> None:
    org = FakeOrg(TRIGGERS)
    (warning,) = await bypass_check(org, INTEGRATION["Username"])
    assert "bypass off" in warning
    org.records.append({"Id": "a0B000000000000USR", "SetupOwnerId": INTEGRATION["Id"], "All__c": True})
    assert await bypass_check(org, INTEGRATION["Username"]) == []
    (missing,) = await bypass_check(org, "nobody@example.com")
    assert "Could not read the trigger bypass" in missing
    assert "not configured" in (await bypass_check(org, None))[0]
