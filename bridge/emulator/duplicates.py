"""Duplicate management: the org's active duplicate rules, and DUPLICATES_DETECTED as the REST API reports it.

A save whose new state matches other live records under an active rule fails with DUPLICATES_DETECTED and a
`duplicateResult` naming the rule and the matching records' ids. An `allow` rule with an alert lets the save
through when the request sends `Sforce-Duplicate-Rule-Header: allowSave=true` ("allowSave ... For a duplicate
rule, when the Alert option is enabled, bypass alerts and save duplicate records"); a `block` rule never does.
With `includeRecordDetails=true` each match carries the matched fields' values as well as its Id.

    rules = DuplicateRules(profile.duplicate_rules, store)
    error = rules.check("Account", "insert", after, DuplicateHeader(allow_save=False), version="62.0")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.emulator.profile import DuplicateRuleSpec
from bridge.emulator.results import SaveError
from bridge.emulator.store import Record, RecordStore

DUPLICATES_DETECTED = "DUPLICATES_DETECTED"


@dataclass(frozen=True, slots=True)
class DuplicateHeader:
    """`Sforce-Duplicate-Rule-Header: allowSave=true; includeRecordDetails=true; runAsCurrentUser=true`."""

    allow_save: bool = False
    include_record_details: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> DuplicateHeader:
        """The header's flags (all default false, names and values case-insensitive)."""
        flags: dict[str, bool] = {}
        for part in (raw or "").replace(",", ";").split(";"):
            key, _, value = part.strip().partition("=")
            flags[key.strip().lower()] = value.strip().lower() == "true"
        return cls(flags.get("allowsave", False), flags.get("includerecorddetails", False))


NO_DUPLICATE_HEADER = DuplicateHeader()


def _key(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None  # a blank field never matches


class DuplicateRules:
    """The active rules by object; matching reads the live records of the store."""

    def __init__(self, rules: Iterable[DuplicateRuleSpec], store: RecordStore) -> None:
        self._store = store
        self._by_object: dict[str, list[DuplicateRuleSpec]] = {}
        self.use(rules)

    def __repr__(self) -> str:
        return f"DuplicateRules(active={[r.name for rules in self._by_object.values() for r in rules]})"

    def use(self, rules: Iterable[DuplicateRuleSpec]) -> None:
        """Replace the rules; only active ones apply."""
        self._by_object = {}
        for rule in rules:
            if rule.active:
                self._by_object.setdefault(rule.sobject, []).append(rule)

    def check(
        self, sobject: str, kind: str, after: Record, header: DuplicateHeader, *, version: str
    ) -> SaveError | None:
        """DUPLICATES_DETECTED for the first rule `after` breaks, or None."""
        for rule in self._by_object.get(sobject, ()):
            if kind not in rule.operations:
                continue
            matches = self._matches(rule, after)
            if not matches:
                continue
            allowed = rule.action == "allow"
            if allowed and (header.allow_save or not rule.alert):
                continue
            result = _duplicate_result(rule, matches, allow_save=allowed, header=header, version=version)
            return SaveError(DUPLICATES_DETECTED, rule.message, (), result)
        return None

    def _matches(self, rule: DuplicateRuleSpec, after: Record) -> list[Record]:
        wanted = [_key(after.get(name)) for name in rule.fields]
        if None in wanted:
            return []
        found = []
        for row in self._store.rows(rule.sobject):
            if row["Id"] != after.get("Id") and [_key(row.get(name)) for name in rule.fields] == wanted:
                found.append(row)
        return found


def _duplicate_result(
    rule: DuplicateRuleSpec, matches: list[Record], *, allow_save: bool, header: DuplicateHeader, version: str
) -> dict[str, Any]:
    records = [_match_record(rule, row, header, version) for row in matches]
    return {
        "allowSave": allow_save,
        "duplicateRule": rule.name,
        "duplicateRuleEntityType": rule.sobject,
        "errorMessage": rule.message,
        "matchResults": [
            {
                "entityType": rule.sobject,
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": records,
                "rule": rule.matching_rule or f"{rule.name}_Match_Rule",
                "size": len(records),
                "success": True,
            }
        ],
    }


def _match_record(
    rule: DuplicateRuleSpec, row: Mapping[str, Any], header: DuplicateHeader, version: str
) -> dict[str, Any]:
    url = f"/services/data/v{version}/sobjects/{rule.sobject}/{row['Id']}"
    record: dict[str, Any] = {"attributes": {"type": rule.sobject, "url": url}, "Id": row["Id"]}
    if header.include_record_details:
        record.update({name: row.get(name) for name in rule.fields})
    return {
        "additionalInformation": [],
        "fieldDiffs": [],
        "matchConfidence": 100.0,
        "record": record,
    }
