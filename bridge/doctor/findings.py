"""The doctor's vocabulary: a finding (OK / WARN / FAIL, what was seen, how to fix it) and the exit code of a run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_WARNINGS = 2  # only with --strict


class Status(StrEnum):
    """How bad a finding is."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


class Finding(NamedTuple):
    """One line of the doctor's report: `check` names the area, `fix` says what to do (empty when nothing)."""

    status: Status
    check: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """`FAIL  kafka.topics  crm.dlq is missing. Fix: ...`."""
        fix = f" Fix: {self.fix}" if self.fix else ""
        # One line per finding: Salesforce messages (a SOQL error, say) may span several.
        text = " ".join(f"{self.message}{fix}".split())
        return f"{self.status.value:<4}  {self.check}  {text}"

    def as_dict(self) -> dict[str, str]:
        """The finding for `--json`."""
        return {"status": self.status.value, "check": self.check, "message": self.message, "fix": self.fix}


def ok(check: str, message: str) -> Finding:
    """A check that passed."""
    return Finding(Status.OK, check, message)


def warn(check: str, message: str, fix: str) -> Finding:
    """Something that works but should be fixed."""
    return Finding(Status.WARN, check, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    """Something that stops the bridge from working."""
    return Finding(Status.FAIL, check, message, fix)


def exit_code(findings: Iterable[Finding], *, strict: bool = False) -> int:
    """0 when nothing failed; 1 when something failed; 2 when only warnings and `strict`."""
    statuses = {f.status for f in findings}
    if Status.FAIL in statuses:
        return EXIT_FAILED
    if strict and Status.WARN in statuses:
        return EXIT_WARNINGS
    return EXIT_OK


def redact(findings: Sequence[Finding], secrets: Iterable[str]) -> list[Finding]:
    """The findings with every secret value replaced by `***`, whatever message a library put it in."""
    values = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, "***")
        return text

    return [Finding(f.status, f.check, clean(f.message), clean(f.fix)) for f in findings]
