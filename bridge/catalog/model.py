"""The documented org: objects, fields, rules, triggers and relationships, built from an `OrgSnapshot`.

The snapshot is what the org answered; this is what a reader needs: a field's description beside its describe
facts, an object's record count and Change Data Capture state, whether the bridge can evaluate each validation
rule and whether the bypass setting covers each trigger, and the lookups and master-detail relationships between
the documented objects.

    org = build_org(snapshot, OrgContext(compiler=default_compiler(), writes=mappings))
    org.objects["Invoice__c"].fields, org.relationships, org.neighbours("Invoice__c")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.catalog.discovery import AUDIT_FIELDS
from bridge.catalog.snapshot import OrgFacts, OrgSnapshot
from bridge.processing.mapping import Mappings
from bridge.processing.metadata import parse_field, parse_validation_rules
from bridge.processing.rules import RuleCompiler, unevaluated

DEFAULT_BYPASS_SETTINGS = ("Integration_Bypass__c", "Integration_Settings__c", "Bypass_Automations__c")
_SUFFIX = re.compile(r"__(c|e|mdt|b|x)$")
_USAGE = (
    ("UsageBeforeInsert", "before insert"),
    ("UsageAfterInsert", "after insert"),
    ("UsageBeforeUpdate", "before update"),
    ("UsageAfterUpdate", "after update"),
    ("UsageBeforeDelete", "before delete"),
    ("UsageAfterDelete", "after delete"),
    ("UsageAfterUndelete", "after undelete"),
)


@dataclass(frozen=True, slots=True)
class Bypass:
    """How the integration user skips triggers: setting names a trigger body may read, triggers known to."""

    settings: tuple[str, ...] = DEFAULT_BYPASS_SETTINGS
    triggers: frozenset[str] = frozenset()
    """Triggers on the handler framework (the mediation trigger map): their handlers read the setting."""

    def covers(self, trigger: Mapping[str, Any]) -> bool:
        """Whether the bypass setting can switch this trigger off for the bridge's writes."""
        body = str(trigger.get("Body") or "")
        return str(trigger.get("Name")) in self.triggers or any(s in body for s in self.settings)


@dataclass(frozen=True, slots=True)
class OrgContext:
    """What the catalog knows besides the org: the rule compiler, the mappings, the bypass."""

    compiler: RuleCompiler = unevaluated
    mappings: Mappings | None = None
    bypass: Bypass = field(default_factory=Bypass)

    @property
    def written(self) -> frozenset[str]:
        """The SObjects the bridge writes (those the mappings name)."""
        return self.mappings.sobjects if self.mappings is not None else frozenset()


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """One field: describe's facts plus the Tooling API's description."""

    name: str
    label: str
    type: str
    length: int
    precision: int
    scale: int
    required: bool
    unique: bool
    external_id: bool
    custom: bool
    createable: bool
    description: str | None
    help_text: str | None
    picklist: tuple[str, ...]
    restricted: bool
    reference_to: tuple[str, ...]
    relationship_name: str | None
    master_detail: bool
    calculated: bool


@dataclass(frozen=True, slots=True)
class RuleDoc:
    """A validation rule and whether the bridge's formula engine evaluates it before any API call."""

    name: str
    active: bool
    formula: str
    message: str
    display_field: str | None
    evaluable: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class TriggerDoc:
    """An Apex trigger, its events and whether the bypass setting covers it."""

    name: str
    status: str
    events: tuple[str, ...]
    bypassable: bool


@dataclass(frozen=True, slots=True)
class ObjectDoc:
    """One documented object."""

    name: str
    label: str
    kind: str
    """standard, custom, custom setting, platform event or custom metadata."""
    record_count: int | None
    description: str | None
    cdc: bool | None
    """Selected for Change Data Capture; None when the org would not say."""
    written: bool
    fields: Mapping[str, FieldDoc]
    rules: tuple[RuleDoc, ...] = ()
    triggers: tuple[TriggerDoc, ...] = ()
    field_descriptions_known: bool = True
    """Whether the org told the fields' descriptions (FieldDefinition)."""
    description_known: bool = True
    """Whether the org told this custom object's description (CustomObject)."""

    @property
    def custom(self) -> bool:
        return self.kind != "standard"


@dataclass(frozen=True, slots=True)
class Relationship:
    """A lookup or master-detail field of `child` pointing at `parent`."""

    child: str
    field: str
    parent: str
    master_detail: bool
    cascade_delete: bool
    relationship_name: str | None

    @property
    def kind(self) -> str:
        return "master-detail" if self.master_detail else "lookup"


@dataclass(frozen=True, slots=True)
class Org:
    """The documented org."""

    objects: Mapping[str, ObjectDoc]
    relationships: tuple[Relationship, ...]
    notes: tuple[str, ...] = ()

    def neighbours(self, name: str) -> set[str]:
        """The objects `name` looks up or is looked up by, itself included."""
        found = {name}
        for rel in self.relationships:
            if name in (rel.child, rel.parent):
                found.update((rel.child, rel.parent))
        return found

    def relationships_of(self, names: Iterable[str]) -> list[Relationship]:
        """The relationships between objects of `names`."""
        keep = set(names)
        return [rel for rel in self.relationships if rel.child in keep and rel.parent in keep]


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _field(raw: Mapping[str, Any], description: str | None) -> FieldDoc:
    meta = parse_field(raw)
    has_default = raw.get("defaultValue") not in (None, "") or bool(raw.get("defaultValueFormula"))
    picklist = tuple(str(p["value"]) for p in raw.get("picklistValues") or () if p.get("active", True))
    return FieldDoc(
        name=meta.name,
        label=str(raw.get("label") or meta.name),
        type=meta.type,
        length=meta.length,
        precision=meta.precision,
        scale=meta.scale,
        required=meta.required and not has_default and not bool(raw.get("autoNumber")),
        unique=bool(raw.get("unique")),
        external_id=meta.external_id,
        custom=bool(raw.get("custom", meta.name.endswith("__c"))),
        createable=meta.createable,
        description=description,
        help_text=_text(raw.get("inlineHelpText")),
        picklist=picklist,
        restricted=meta.restricted_picklist,
        reference_to=meta.reference_to,
        relationship_name=meta.relationship_name,
        master_detail=meta.type == "reference" and raw.get("relationshipOrder") is not None,
        calculated=meta.calculated,
    )


def _kind(name: str, entry: Mapping[str, Any]) -> str:
    if entry.get("customSetting"):
        return "custom setting"
    if name.endswith("__e"):
        return "platform event"
    if name.endswith("__mdt"):
        return "custom metadata"
    return "custom" if entry.get("custom", name.endswith("__c")) else "standard"


def object_key(name: str) -> tuple[str, str]:
    """(namespace, developer name) of a custom object's API name: `ns__Thing__c` → ("ns", "Thing")."""
    stem = _SUFFIX.sub("", name)
    namespace, _, developer = stem.rpartition("__")
    return namespace, developer


def _object_descriptions(facts: OrgFacts) -> dict[tuple[str, str], str | None]:
    return {
        (str(row.get("NamespacePrefix") or ""), str(row.get("DeveloperName") or "")): _text(row.get("Description"))
        for row in facts.custom_objects
    }


def change_event_object(entity: str) -> str:
    """The object a change event entity belongs to: `AccountChangeEvent` → Account, `X__ChangeEvent` → X__c."""
    if entity.endswith("__ChangeEvent"):
        return entity.removesuffix("__ChangeEvent") + "__c"
    return entity.removesuffix("ChangeEvent")


def _cdc_state(facts: OrgFacts) -> set[str] | None:
    if not facts.channel_members and any("PlatformEventChannelMember" in note for note in facts.notes):
        return None
    return {change_event_object(str(m.get("SelectedEntity") or "")) for m in facts.channel_members}


def _rules(records: Sequence[Mapping[str, Any]], types: Mapping[str, str], context: OrgContext) -> tuple[RuleDoc, ...]:
    docs = []
    for rule in parse_validation_rules(records):
        compiled = context.compiler(rule, types)
        reason = None if compiled.check is not None else compiled.compile_error or "not evaluable"
        docs.append(
            RuleDoc(
                rule.name, rule.active, rule.formula, rule.error_message, rule.error_display_field, not reason, reason
            )
        )
    return tuple(docs)


def _triggers(records: Sequence[Mapping[str, Any]], bypass: Bypass) -> tuple[TriggerDoc, ...]:
    return tuple(
        TriggerDoc(
            str(t.get("Name")),
            str(t.get("Status") or ""),
            tuple(event for flag, event in _USAGE if t.get(flag) is True),
            bypass.covers(t),
        )
        for t in records
    )


def _record_count(name: str, kind: str, facts: OrgFacts) -> int | None:
    # No counts at all means the org did not say (or an older snapshot), not an empty org.
    if kind == "platform event" or not facts.record_counts:
        return None
    return facts.record_counts.get(name, 0)


def _object(name: str, snapshot: OrgSnapshot, context: OrgContext, lookups: _Lookups) -> ObjectDoc:
    describe = snapshot.describes[name]
    kind = _kind(name, lookups.entries.get(name, describe))
    definitions = snapshot.field_definitions.get(name)
    described = {str(d.get("QualifiedApiName")): _text(d.get("Description")) for d in definitions or ()}
    fields = {str(raw["name"]): _field(raw, described.get(str(raw["name"]))) for raw in describe.get("fields") or ()}
    types = {n: f.type for n, f in fields.items()}
    description = lookups.descriptions.get(object_key(name)) if kind != "standard" else None
    return ObjectDoc(
        name=name,
        label=str(describe.get("label") or name),
        kind=kind,
        record_count=_record_count(name, kind, snapshot.facts),
        description=description,
        cdc=None if lookups.cdc is None else name in lookups.cdc,
        written=name in context.written,
        fields=fields,
        rules=_rules(snapshot.validation_rules.get(name, ()), types, context),
        triggers=_triggers(snapshot.triggers.get(name, ()), context.bypass),
        field_descriptions_known=definitions is not None,
        description_known=kind == "standard" or lookups.objects_described,
    )


@dataclass(frozen=True, slots=True)
class _Lookups:
    entries: Mapping[str, Mapping[str, Any]]
    descriptions: Mapping[tuple[str, str], str | None]
    cdc: set[str] | None

    @property
    def objects_described(self) -> bool:
        return bool(self.descriptions)


def _cascades(describes: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """childRelationships of every parent, by (child object, field)."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for describe in describes.values():
        for child in describe.get("childRelationships") or ():
            found[(str(child.get("childSObject")), str(child.get("field")))] = child
    return found


def relationships(describes: Mapping[str, Mapping[str, Any]]) -> tuple[Relationship, ...]:
    """Every lookup and master-detail field between the described objects (audit lookups left out)."""
    children = _cascades(describes)
    found = []
    for child, describe in sorted(describes.items()):
        for raw in describe.get("fields") or ():
            name = str(raw.get("name"))
            if raw.get("type") != "reference" or name in AUDIT_FIELDS:
                continue
            entry = children.get((child, name), {})
            for parent in raw.get("referenceTo") or ():
                if parent in describes:
                    master_detail = raw.get("relationshipOrder") is not None
                    cascade = bool(entry.get("cascadeDelete", raw.get("cascadeDelete", master_detail)))
                    found.append(
                        Relationship(child, name, str(parent), master_detail, cascade, entry.get("relationshipName"))
                    )
    return tuple(found)


def build_org(snapshot: OrgSnapshot, context: OrgContext | None = None) -> Org:
    """The documented org of `snapshot`."""
    context = context or OrgContext()
    lookups = _Lookups(
        {str(e.get("name")): e for e in snapshot.facts.sobjects},
        _object_descriptions(snapshot.facts),
        _cdc_state(snapshot.facts),
    )
    objects = {name: _object(name, snapshot, context, lookups) for name in sorted(snapshot.describes)}
    return Org(objects, relationships(snapshot.describes), tuple(snapshot.facts.notes))
