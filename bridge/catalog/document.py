"""Human documentation of an org snapshot: one Markdown page per SObject plus an index.

Each page lists the fields (type, length, required, external ID, picklist values, lookups), the validation rules
with their formulas and whether the local evaluator handles them, the Apex triggers and whether the integration
user's bypass setting covers them, and the names that break the org's own naming conventions.

    pages = render_catalog(snapshot, compiler)   # {"Account.md": "...", "README.md": "..."}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.catalog.snapshot import OrgSnapshot, parse_snapshot
from bridge.processing.metadata import FieldMeta, SObjectMeta, ValidationRuleMeta
from bridge.processing.rules import RuleCompiler, unevaluated

DEFAULT_BYPASS_SETTINGS = ("Integration_Settings__c", "Bypass_Automations__c", "Bypass_Triggers__c")

_STYLES = (
    ("Pascal_Snake", re.compile(r"[A-Z][A-Za-z0-9]*(?:_[A-Z0-9][A-Za-z0-9]*)*")),
    ("PascalCase", re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")),
    ("camelCase", re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")),
    ("lower_snake", re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")),
)


def name_style(name: str) -> str:
    """The naming style of an API name without its `__c`/namespace suffix."""
    stem = name.removesuffix("__c").rpartition("__")[2]
    for style, pattern in _STYLES:
        if pattern.fullmatch(stem):
            return style
    return "other"


@dataclass(frozen=True, slots=True)
class NamingIssue:
    """A name whose style differs from the style most of its kind use in this org."""

    kind: str
    name: str
    style: str
    convention: str


def naming_issues(kind: str, names: Iterable[str]) -> list[NamingIssue]:
    """Names of one kind (custom fields, rules) that do not follow the org's majority style."""
    styles = {name: name_style(name) for name in names}
    if len(styles) < 3:
        return []
    convention, _ = Counter(styles.values()).most_common(1)[0]
    return [NamingIssue(kind, n, s, convention) for n, s in sorted(styles.items()) if s != convention]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _field_row(meta: FieldMeta, raw: Mapping[str, Any]) -> str:
    picklist = ", ".join(sorted(meta.picklist_values))
    if picklist and meta.restricted_picklist:
        picklist = f"(restricted) {picklist}"
    length = meta.length or (f"{meta.precision},{meta.scale}" if meta.precision else "")
    cells = [
        f"`{meta.name}`",
        raw.get("label"),
        meta.type,
        length,
        "yes" if meta.required else "",
        "yes" if meta.external_id else "",
        "yes" if raw.get("unique") else "",
        picklist,
        ", ".join(meta.reference_to),
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _fields_section(sobject: SObjectMeta, describe: Mapping[str, Any]) -> list[str]:
    raw_fields = {str(f["name"]): f for f in describe.get("fields") or []}
    lines = [
        "## Fields",
        "",
        "| Field | Label | Type | Length | Required | External ID | Unique | Picklist | References |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_field_row(meta, raw_fields.get(name, {})) for name, meta in sorted(sobject.fields.items())]
    external = ", ".join(f"`{n}`" for n in sorted(sobject.external_id_fields)) or "none"
    required = ", ".join(f"`{n}`" for n, m in sorted(sobject.fields.items()) if m.required) or "none"
    return [*lines, "", f"External ID fields: {external}. Required on create: {required}.", ""]


def _rules_section(rules: list[ValidationRuleMeta], sobject: SObjectMeta, compiler: RuleCompiler) -> list[str]:
    lines = ["## Validation rules", ""]
    if not rules:
        return [*lines, "None.", ""]
    field_types = {name: meta.type for name, meta in sobject.fields.items()}
    for rule in rules:
        compiled = compiler(rule, field_types)
        verdict = "evaluated locally" if compiled.check is not None else f"not evaluable: {compiled.compile_error}"
        state = "active" if rule.active else "inactive"
        lines += [
            f"### {rule.name} ({state}; {verdict})",
            "",
            f"Message: {rule.error_message}"
            + (f" (shown on `{rule.error_display_field}`)" if rule.error_display_field else ""),
            "",
            "```",
            rule.formula,
            "```",
            "",
        ]
    return lines


def trigger_bypassable(trigger: Mapping[str, Any], bypass_settings: Iterable[str]) -> bool:
    """Whether the trigger's body consults one of the bypass custom settings (by API name)."""
    body = str(trigger.get("Body") or "")
    return any(setting in body for setting in bypass_settings)


def _triggers_section(triggers: Iterable[Mapping[str, Any]], bypass_settings: tuple[str, ...]) -> list[str]:
    rows = [
        f"| `{_cell(t.get('Name'))}` | {_cell(t.get('Status'))} | "
        f"{'yes' if trigger_bypassable(t, bypass_settings) else 'no'} | {_cell(_events(t))} |"
        for t in triggers
    ]
    if not rows:
        return ["## Apex triggers", "", "None.", ""]
    return ["## Apex triggers", "", "| Trigger | Status | Bypassable | Events |", "|---|---|---|---|", *rows, ""]


def _events(trigger: Mapping[str, Any]) -> str:
    return ", ".join(
        name.removeprefix("Usage")
        for name, on in sorted(trigger.items())
        if name.startswith("Usage") and on is True and name != "UsageIsBulk"
    )


def _naming_section(sobject: SObjectMeta, rules: list[ValidationRuleMeta]) -> list[str]:
    issues = naming_issues("custom field", [n for n in sobject.fields if n.endswith("__c")])
    issues += naming_issues("validation rule", [r.name for r in rules])
    if not issues:
        return ["## Naming", "", "Every name follows the org's conventions.", ""]
    lines = ["## Naming", ""]
    lines += [f"- {i.kind} `{i.name}` is {i.style}; this org's {i.kind}s are {i.convention}." for i in issues]
    return [*lines, ""]


def render_object(
    snapshot: OrgSnapshot,
    sobject: str,
    compiler: RuleCompiler = unevaluated,
    bypass_settings: tuple[str, ...] = DEFAULT_BYPASS_SETTINGS,
) -> str:
    """The Markdown page of one SObject."""
    model = parse_snapshot(snapshot)
    meta = model.objects[sobject]
    describe = snapshot.describes[sobject]
    rules = model.rules.get(sobject, [])
    lines = [f"# {describe.get('label') or sobject} (`{sobject}`)", ""]
    lines += _fields_section(meta, describe)
    lines += _rules_section(rules, meta, compiler)
    lines += _triggers_section(snapshot.triggers.get(sobject, ()), bypass_settings)
    lines += _naming_section(meta, rules)
    return "\n".join(lines)


def render_catalog(
    snapshot: OrgSnapshot,
    compiler: RuleCompiler = unevaluated,
    bypass_settings: tuple[str, ...] = DEFAULT_BYPASS_SETTINGS,
) -> dict[str, str]:
    """Every page, by file name, plus `README.md` indexing them."""
    pages = {
        f"{name}.md": render_object(snapshot, name, compiler, bypass_settings) for name in sorted(snapshot.describes)
    }
    index = ["# Org catalog", "", "| Object | Fields | Validation rules | Triggers |", "|---|---|---|---|"]
    for name in sorted(snapshot.describes):
        fields = len(snapshot.describes[name].get("fields") or [])
        rules = len(snapshot.validation_rules.get(name, ()))
        triggers = len(snapshot.triggers.get(name, ()))
        index.append(f"| [{name}]({name}.md) | {fields} | {rules} | {triggers} |")
    pages["README.md"] = "\n".join(
        [*index, "", "The schemas validation uses are under `describe/`, `validation_rules/` and `triggers/`.", ""]
    )
    return pages
