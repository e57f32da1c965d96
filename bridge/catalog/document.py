"""Human documentation of a documented org: an index with the overview diagram, one page per object, the findings.

Each object page lists the fields (type, length, required, external ID, picklist values, lookups, description and
help text), the relationships with a diagram of the object and its neighbours, the validation rules with their
formulas and whether the bridge evaluates them, the Apex triggers with their events and whether the bypass
setting covers them, and the object's findings.

    pages = render_pages(org, findings, svgs={"overview"})   # {"README.md": ..., "Account.md": ..., ...}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from bridge.catalog.diagram import DIAGRAMS_DIR, mermaid
from bridge.catalog.findings import SEVERITIES, Finding
from bridge.catalog.model import FieldDoc, ObjectDoc, Org, RuleDoc


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Iterable[object]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows)]


def _yes(flag: bool | None) -> str:
    return {True: "yes", False: "", None: "?"}[flag]


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _diagram(org: Org, names: Iterable[str], svg: str | None) -> list[str]:
    lines = [f"![Entity-relationship diagram]({svg})", ""] if svg else []
    return [*lines, "```mermaid", mermaid(org, names), "```", ""]


def _object_row(obj: ObjectDoc) -> list[object]:
    custom = sum(1 for f in obj.fields.values() if f.custom)
    rules = f"{len(obj.rules)}" + (f" ({n} not evaluable)" if (n := sum(not r.evaluable for r in obj.rules)) else "")
    return [
        f"[{obj.name}]({obj.name}.md)",
        obj.label,
        obj.kind,
        _count(obj.record_count),
        f"{len(obj.fields)} ({custom} custom)",
        rules,
        len(obj.triggers),
        _yes(obj.cdc),
        _yes(obj.written),
    ]


def render_index(org: Org, findings: Sequence[Finding], overview_svg: str | None) -> str:
    """README.md: the objects, the overview diagram and the findings by kind."""
    kinds = Counter(o.kind for o in org.objects.values())
    severities = Counter(f.severity for f in findings)
    lines = [
        "# Org catalog",
        "",
        f"{len(org.objects)} objects ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
        f"{len(org.relationships)} relationships, {len(findings)} findings "
        f"({', '.join(f'{severities.get(s, 0)} {s}' for s in SEVERITIES)}).",
        "",
        *(f"> Note: {note}" for note in org.notes),
        "## Objects",
        "",
        *_table(
            ["Object", "Label", "Kind", "Records", "Fields", "Validation rules", "Triggers", "CDC", "Written"],
            (_object_row(o) for o in org.objects.values()),
        ),
        "",
        "## Relationships",
        "",
        "Dotted: lookup; solid: master-detail; labels name the child's field and mark cascade delete.",
        "",
        *_diagram(org, org.objects, overview_svg),
        "## Findings",
        "",
        *_table(["Kind", "Severity", "Count"], _finding_kinds(findings)),
        "",
        "Every finding, with its object, field and reason: [findings.md](findings.md).",
        "The snapshot validation uses is under `describe/`, `validation_rules/` and `triggers/`.",
        "",
    ]
    return "\n".join(lines)


def _finding_kinds(findings: Sequence[Finding]) -> list[list[object]]:
    counted = Counter((f.kind, f.severity) for f in findings)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return [[k, s, n] for (k, s), n in sorted(counted.items(), key=lambda item: (rank[item[0][1]], item[0][0]))]


def render_findings(findings: Sequence[Finding]) -> str:
    """findings.md: every finding, most severe first."""
    rows = ([f.severity, f.kind, f"[{f.sobject}]({f.sobject}.md)", f.field or "", f.reason] for f in findings)
    body = _table(["Severity", "Kind", "Object", "Field", "Reason"], rows) if findings else ["None."]
    return "\n".join(["# Findings", "", *body, ""])


def _field_row(f: FieldDoc) -> list[object]:
    picklist = ", ".join(f.picklist)
    if picklist:
        picklist = ("(restricted) " if f.restricted else "(unrestricted) ") + picklist
    size = f.length or (f"{f.precision},{f.scale}" if f.precision else "")
    kind = f.type + (" (master-detail)" if f.master_detail else "")
    name = f"`{f.name}`" + (" *" if f.custom else "")
    return [
        name,
        f.label,
        kind,
        size,
        _yes(f.required),
        _yes(f.unique),
        _yes(f.external_id),
        picklist,
        ", ".join(f.reference_to),
        f.description or "",
        f.help_text or "",
    ]


def _fields(obj: ObjectDoc) -> list[str]:
    header = ["Field", "Label", "Type", "Length", "Required", "Unique", "External ID", "Picklist", "References"]
    rows = (_field_row(f) for _, f in sorted(obj.fields.items()))
    external = ", ".join(f"`{n}`" for n, f in sorted(obj.fields.items()) if f.external_id) or "none"
    required = ", ".join(f"`{n}`" for n, f in sorted(obj.fields.items()) if f.required) or "none"
    return [
        "## Fields",
        "",
        "`*` marks custom fields. Required: on create, with no default.",
        "",
        *_table([*header, "Description", "Help text"], rows),
        "",
        f"External ID fields: {external}. Required on create: {required}.",
        "",
    ]


def _rule(rule: RuleDoc) -> list[str]:
    verdict = "evaluated by the bridge" if rule.evaluable else f"not evaluable: {rule.reason}"
    shown = f" (shown on `{rule.display_field}`)" if rule.display_field else ""
    state = "active" if rule.active else "inactive"
    return [
        f"### {rule.name} ({state}; {verdict})",
        "",
        f"Message: {rule.message}{shown}",
        "",
        "```",
        rule.formula,
        "```",
        "",
    ]


def _rules(obj: ObjectDoc) -> list[str]:
    lines = ["## Validation rules", ""]
    if not obj.rules:
        return [*lines, "None.", ""]
    return [*lines, *(line for rule in obj.rules for line in _rule(rule))]


def _triggers(obj: ObjectDoc) -> list[str]:
    if not obj.triggers:
        return ["## Apex triggers", "", "None.", ""]
    rows = ([f"`{t.name}`", t.status, ", ".join(t.events), _yes(t.bypassable)] for t in obj.triggers)
    return ["## Apex triggers", "", *_table(["Trigger", "Status", "Events", "Bypassable"], rows), ""]


def _relationships(org: Org, obj: ObjectDoc, svg: str | None) -> list[str]:
    parents = [r for r in org.relationships if r.child == obj.name]
    children = [r for r in org.relationships if r.parent == obj.name]
    lines = ["## Relationships", ""]
    lines += [f"- `{r.field}` → [{r.parent}]({r.parent}.md) ({r.kind})" for r in parents]
    lines += [
        f"- [{r.child}]({r.child}.md)`.{r.field}` → here ({r.kind}{', cascade delete' if r.cascade_delete else ''})"
        for r in children
    ]
    if not parents and not children:
        return [*lines, "None between the documented objects.", ""]
    return [*lines, "", *_diagram(org, org.neighbours(obj.name), svg)]


def _facts(obj: ObjectDoc) -> str:
    facts = [obj.kind, f"{_count(obj.record_count)} records"]
    facts.append({True: "Change Data Capture on", False: "Change Data Capture off", None: "CDC unknown"}[obj.cdc])
    if obj.written:
        facts.append("written by the bridge")
    return " · ".join(facts)


def render_object(org: Org, name: str, findings: Sequence[Finding], svg: str | None = None) -> str:
    """The Markdown page of one object."""
    obj = org.objects[name]
    lines = [f"# {obj.label} (`{obj.name}`)", "", _facts(obj), ""]
    if obj.description:
        lines += [f"> {obj.description}", ""]
    lines += _relationships(org, obj, svg)
    lines += _fields(obj)
    lines += _rules(obj)
    lines += _triggers(obj)
    own = [f for f in findings if f.sobject == name]
    lines += ["## Findings", ""]
    lines += [f"- **{f.severity}** {f.kind}" + (f" `{f.field}`" if f.field else "") + f": {f.reason}" for f in own]
    lines += [] if own else ["None."]
    return "\n".join([*lines, ""])


def render_pages(org: Org, findings: Sequence[Finding], svgs: Iterable[str] = ()) -> dict[str, str]:
    """Every page by file name; `svgs` names the diagrams written (`overview` and object names)."""
    drawn = set(svgs)

    def svg(name: str) -> str | None:
        return f"{DIAGRAMS_DIR}/{name}.svg" if name in drawn else None

    pages = {f"{name}.md": render_object(org, name, findings, svg(name)) for name in org.objects}
    pages["README.md"] = render_index(org, findings, svg("overview"))
    pages["findings.md"] = render_findings(findings)
    return pages
