"""What is wrong with the org, or with the bridge's mappings against it: one finding per object and field.

Each finding has a kind, a severity (`error`: writes will fail; `warning`: writes may misbehave or cost more;
`info`: the org is harder to integrate than it needs to be), the object, the field (or rule, or trigger) and a
one-line reason.

    for finding in find_all(org, context):
        print(finding.severity, finding.sobject, finding.field, finding.reason)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bridge.catalog.model import ObjectDoc, Org, OrgContext
from bridge.catalog.naming import naming_issues, shares_meaning
from bridge.processing.mapping import EventMapping
from bridge.types import Operation

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix, with where it is and why it matters."""

    kind: str
    severity: str
    sobject: str
    field: str | None
    reason: str

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "sobject": self.sobject,
            "field": self.field,
            "reason": self.reason,
        }


Check = Callable[[Org, OrgContext], Iterable[Finding]]


def naming(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Custom object and custom field names that break the org's own majority convention."""
    del context
    objects = [o.name for o in org.objects.values() if o.kind == "custom"]
    for issue in naming_issues("custom object", objects):
        reason = f"{issue.style} name; most custom objects here are {issue.convention}"
        yield Finding("naming", "info", issue.name, None, reason)
    fields: dict[str, list[str]] = defaultdict(list)  # a field name shared by objects counts once
    for obj in org.objects.values():
        for f in obj.fields.values():
            if f.custom:
                fields[f.name].append(obj.name)
    for issue in naming_issues("custom field", fields):
        for owner in fields[issue.name]:
            reason = f"{issue.style} name; most custom fields here are {issue.convention}"
            yield Finding("naming", "info", owner, issue.name, reason)


def labels(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Labels that collide (two fields or objects, one label) or say something other than the API name."""
    del context
    by_label: dict[str, list[str]] = defaultdict(list)
    for obj in org.objects.values():
        by_label[obj.label.lower()].append(obj.name)
        yield from _field_labels(obj)
        if obj.kind == "custom" and not shares_meaning(obj.name, obj.label):
            yield Finding("label_mismatch", "info", obj.name, None, f"label {obj.label!r} shares no word with the name")
    for names in by_label.values():
        for name in names if len(names) > 1 else ():
            others = ", ".join(n for n in names if n != name)
            label = org.objects[name].label
            yield Finding("label_collision", "warning", name, None, f"label {label!r} is also the label of {others}")


def _field_labels(obj: ObjectDoc) -> Iterator[Finding]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for f in obj.fields.values():
        by_label[f.label.lower()].append(f.name)
        if f.custom and not shares_meaning(f.name, f.label):
            yield Finding("label_mismatch", "info", obj.name, f.name, f"label {f.label!r} shares no word with the name")
    for names in by_label.values():
        for name in names if len(names) > 1 else ():
            others = ", ".join(n for n in names if n != name)
            label = obj.fields[name].label
            yield Finding(
                "label_collision", "warning", obj.name, name, f"label {label!r} is also the label of {others}"
            )


def descriptions(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Custom objects and custom fields nobody described."""
    del context
    for obj in org.objects.values():
        if obj.custom and obj.description_known and not obj.description:
            yield Finding("missing_description", "info", obj.name, None, "custom object without a description")
        if not obj.field_descriptions_known:
            continue
        for f in obj.fields.values():
            if f.custom and not f.description:
                yield Finding("missing_description", "info", obj.name, f.name, "custom field without a description")


def _filled(mapping: EventMapping, obj: ObjectDoc) -> set[str]:
    by_relationship = {f.relationship_name: f.name for f in obj.fields.values() if f.relationship_name}
    return {mapping.external_id_field, *(by_relationship.get(name, name) for name in mapping.fields)}


def mapping_coverage(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Required fields without a default that a mapping leaves empty, and mapped fields the org lacks."""
    if context.mappings is None:
        return
    for mapping in context.mappings.by_type.values():
        obj = org.objects.get(mapping.sobject)
        if obj is None:
            reason = f"mapping {mapping.event_type} writes {mapping.sobject}, which the catalog did not document"
            yield Finding("mapping_field_missing", "error", mapping.sobject, None, reason)
            continue
        filled = _filled(mapping, obj)
        writes_new_records = mapping.operation is not Operation.DELETE  # a delete (or soft delete) creates nothing
        for f in obj.fields.values():
            if writes_new_records and f.required and f.name not in filled:
                reason = f"required, no default, and mapping {mapping.event_type} does not fill it"
                yield Finding("required_unmapped", "error", obj.name, f.name, reason)
        for name in sorted(filled - set(obj.fields)):
            reason = f"mapping {mapping.event_type} writes it, but {obj.name} has no such field"
            yield Finding("mapping_field_missing", "error", obj.name, name, reason)


def picklists(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Unrestricted picklists: custom ones anywhere, standard ones where a mapping writes them."""
    mapped = _mapped_fields(org, context)
    for obj in org.objects.values():
        for f in obj.fields.values():
            if f.type not in {"picklist", "multipicklist"} or f.restricted:
                continue
            if f.custom:
                yield Finding("unrestricted_picklist", "warning", obj.name, f.name, "unrestricted: any value is stored")
            elif (obj.name, f.name) in mapped:
                reason = "unrestricted and written by a mapping: values outside the list are stored as sent"
                yield Finding("unrestricted_picklist", "warning", obj.name, f.name, reason)


def _mapped_fields(org: Org, context: OrgContext) -> set[tuple[str, str]]:
    if context.mappings is None:
        return set()
    found: set[tuple[str, str]] = set()
    for mapping in context.mappings.by_type.values():
        obj = org.objects.get(mapping.sobject)
        if obj is not None:
            found.update((obj.name, name) for name in _filled(mapping, obj))
    return found


def rules(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Active validation rules the bridge's formula engine cannot evaluate (Salesforce decides them)."""
    del context
    for obj in org.objects.values():
        for rule in obj.rules:
            if rule.active and not rule.evaluable:
                reason = f"the bridge cannot evaluate it ({rule.reason}); records are checked by Salesforce only"
                yield Finding("rule_not_evaluable", "warning", obj.name, rule.name, reason)


def triggers(org: Org, context: OrgContext) -> Iterator[Finding]:
    """Active triggers on objects the bridge writes that the bypass setting does not switch off."""
    del context
    for obj in org.objects.values():
        if not obj.written:
            continue
        for trigger in obj.triggers:
            if trigger.status == "Active" and not trigger.bypassable:
                reason = "runs on every bridge write: its body reads no bypass setting and it is not in the trigger map"
                yield Finding("trigger_not_bypassed", "warning", obj.name, trigger.name, reason)


def external_ids(org: Org, context: OrgContext) -> Iterator[Finding]:
    """External-ID fields that are not unique: an upsert can match several records (300) and needs View All."""
    del context
    for obj in org.objects.values():
        for f in obj.fields.values():
            if f.external_id and not f.unique:
                reason = "external ID but not unique: an upsert may match several records and fail with 300"
                yield Finding("external_id_not_unique", "warning", obj.name, f.name, reason)


CHECKS: tuple[Check, ...] = (
    mapping_coverage,
    triggers,
    rules,
    external_ids,
    picklists,
    labels,
    naming,
    descriptions,
)


def find_all(org: Org, context: OrgContext, checks: Iterable[Check] = CHECKS) -> list[Finding]:
    """Every finding, most severe first, then by object and field."""
    found = [finding for check in checks for finding in check(org, context)]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: (rank[f.severity], f.kind, f.sobject, f.field or ""))
