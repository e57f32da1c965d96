"""Checking what the sync left in the org against what the scenario says it must hold.

check = verify_org(scenario, org)
check.duplicates      # external ids present more than once (must be empty)
check.missing         # valid records absent from the org (must be empty)
check.wrong           # valid records with a field that differs (must be empty)
check.resurrected     # records deleted at the source that are in the org (must be empty)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bridge.demo.scenario import ACCOUNT_ID_FIELD, DEAL_ID_FIELD, Scenario

_EXTERNAL_ID = {"Account": ACCOUNT_ID_FIELD, "Opportunity": DEAL_ID_FIELD}
_SAMPLES = 10


class OrgRows(Protocol):
    """What verification reads from the emulated org."""

    def rows(self, sobject: str, include_deleted: bool = False) -> Any: ...


@dataclass(slots=True)
class OrgCheck:
    """The outcome of comparing the org with the scenario."""

    records: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    deletes_applied: int = 0  # records deleted at the source that are not in the org
    resurrected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exactly one record per external id, every valid record present and right, nothing that should not be."""
        return not (self.duplicates or self.missing or self.wrong or self.unexpected or self.resurrected)


def verify_org(scenario: Scenario, org: OrgRows, run_id: str) -> OrgCheck:
    """Compare every record of this run in the org with the scenario's expectations."""
    check = OrgCheck()
    present: dict[str, dict[str, dict[str, Any]]] = {}
    for sobject, ext_field in _EXTERNAL_ID.items():
        rows = [dict(r) for r in org.rows(sobject) if str(r.get(ext_field) or "").startswith(run_id)]
        counts = Counter(str(r[ext_field]) for r in rows)
        check.records[sobject] = len(rows)
        check.duplicates += [f"{sobject}:{k} x{n}" for k, n in counts.items() if n > 1]
        present[sobject] = {str(r[ext_field]): r for r in rows}
    account_ids = {ext: row.get("Id") for ext, row in present["Account"].items()}
    for (sobject, ext_id), fields in scenario.expected.items():
        row = present[sobject].get(ext_id)
        if row is None:
            check.missing.append(f"{sobject}:{ext_id}")
            continue
        differences = _differences(fields, row, account_ids)
        if differences:
            check.wrong.append(f"{sobject}:{ext_id} {differences}")
    check.resurrected = sorted(f"{s}:{k}" for s, k in scenario.deleted if k in present[s])
    check.deletes_applied = len(scenario.deleted) - len(check.resurrected)
    expected_keys = {f"{s}:{k}" for s, k in scenario.expected}
    for sobject, rows_by_key in present.items():
        deleted = {f"{s}:{k}" for s, k in scenario.deleted}
        check.unexpected += [f"{sobject}:{k}" for k in rows_by_key if f"{sobject}:{k}" not in expected_keys | deleted]
    return check


def _differences(expected: dict[str, Any], row: dict[str, Any], account_ids: dict[str, Any]) -> dict[str, Any]:
    differences: dict[str, Any] = {}
    for name, value in expected.items():
        field_name, want = ("AccountId", account_ids.get(value)) if name == "_parent" else (name, value)
        got = row.get(field_name)
        if not _same(want, got):
            differences[field_name] = {"expected": want, "actual": got}
    return differences


def _same(want: Any, got: Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, int | float) and not isinstance(want, bool):
        try:
            return abs(float(got) - float(want)) < 1e-6 * max(1.0, abs(float(want)))
        except (TypeError, ValueError):
            return False
    if isinstance(got, date):
        got = got.isoformat()
    return str(want) == str(got)


def samples(items: list[str]) -> list[str]:
    """The first few items of a list, for a report that stays readable."""
    return items[:_SAMPLES]
