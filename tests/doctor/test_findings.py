"""Findings: the line format, the exit code rule (--strict) and redaction of secrets."""

from __future__ import annotations

import pytest

from bridge.doctor import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Finding, Status, exit_code, redact
from bridge.doctor.findings import fail, ok, warn

OK = ok("kafka.connect", "Connected.")
WARN = warn("kafka.changelog", "No changelog yet.", "start the processor.")
FAIL = fail("kafka.topic[crm.dlq]", "Topic crm.dlq is missing.", "create it.")


@pytest.mark.parametrize(
    ("findings", "strict", "expected"),
    [
        ([OK], False, EXIT_OK),
        ([OK], True, EXIT_OK),
        ([OK, WARN], False, EXIT_OK),
        ([OK, WARN], True, EXIT_WARNINGS),
        ([OK, WARN, FAIL], False, EXIT_FAILED),
        ([WARN, FAIL], True, EXIT_FAILED),
        ([], True, EXIT_OK),
    ],
)
def test_exit_code(findings: list[Finding], strict: bool, expected: int) -> None:
    assert exit_code(findings, strict=strict) == expected


def test_line_names_status_check_and_fix() -> None:
    assert FAIL.line() == "FAIL  kafka.topic[crm.dlq]  Topic crm.dlq is missing. Fix: create it."
    assert OK.line() == "OK    kafka.connect  Connected."
    multi = fail("salesforce.bypass", "INVALID_FIELD:\nSELECT Id\n   ^", "pass --map.")
    assert multi.line() == "FAIL  salesforce.bypass  INVALID_FIELD: SELECT Id ^ Fix: pass --map."
    assert FAIL.as_dict() == {
        "status": "FAIL",
        "check": "kafka.topic[crm.dlq]",
        "message": "Topic crm.dlq is missing.",
        "fix": "create it.",
    }


def test_redact_replaces_every_secret_in_message_and_fix() -> None:
    leaky = Finding(Status.FAIL, "salesforce.auth", "refused s3cr3t-value and s3cr3t", "not s3cr3t-value again")
    (clean,) = redact([leaky], ["s3cr3t", "s3cr3t-value", ""])
    assert "s3cr3t" not in clean.message + clean.fix
    assert clean.message == "refused *** and ***"
    assert clean.fix == "not *** again"
    assert clean.status is Status.FAIL
