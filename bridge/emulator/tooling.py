"""The Tooling API's view of an org profile: EntityDefinition, ValidationRule, ApexTrigger, CustomObject and
CustomField as describes and rows that the SOQL engine queries like any other object.

    tables = ToolingTables.from_profile(profile, api_version="60.0")
    tables.describe("ValidationRule"); tables.rows("ValidationRule"); tables.get("EntityDefinition", "Account")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.emulator.ids import make_id
from bridge.emulator.profile import ObjectSpec, Profile, TriggerSpec, ValidationRuleSpec

_ENTITY = {"name": "EntityDefinitionId", "type": "reference", "referenceTo": ["EntityDefinition"]}
_USAGES = ("BeforeInsert", "AfterInsert", "BeforeUpdate", "AfterUpdate", "BeforeDelete", "AfterDelete", "AfterUndelete")


def _fields(spec: str) -> list[dict[str, Any]]:
    """`"Name:string Active:boolean"` as describe fields (type defaults to string)."""
    out: list[dict[str, Any]] = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append({"name": name, "type": kind or "string", "custom": False})
    return out


def _describe(name: str, spec: str, *, entity: bool = True) -> dict[str, Any]:
    fields = [{"name": "Id", "type": "id"}, *_fields(spec)]
    if entity:
        fields.append({**_ENTITY, "relationshipName": "EntityDefinition"})
    return {"name": name, "fields": fields}


DESCRIBES: dict[str, dict[str, Any]] = {
    "EntityDefinition": _describe(
        "EntityDefinition",
        "DurableId QualifiedApiName DeveloperName Label NamespacePrefix KeyPrefix IsCustomSetting:boolean",
        entity=False,
    ),
    "ValidationRule": _describe(
        "ValidationRule",
        "ValidationName Active:boolean Description ErrorDisplayField ErrorMessage FullName NamespacePrefix "
        "Metadata:complexvalue",
    ),
    "ApexTrigger": _describe(
        "ApexTrigger",
        "Name TableEnumOrId Status IsValid:boolean ApiVersion:double Body:textarea LengthWithoutComments:int "
        "NamespacePrefix " + " ".join(f"Usage{u}:boolean" for u in (*_USAGES, "IsBulk")),
    ),
    "CustomObject": _describe(
        "CustomObject", "DeveloperName Description ExternalName NamespacePrefix ManageableState FullName"
    ),
    "CustomField": _describe(
        "CustomField",
        "DeveloperName TableEnumOrId Description Length:int Precision:int Scale:int InlineHelpText "
        "RelationshipLabel NamespacePrefix ManageableState FullName Metadata:complexvalue",
    ),
}
# Parents are looked up by EntityDefinition.DurableId (the object's name, or its CustomObject id when custom).
_KEYS = {"EntityDefinition": "DurableId"}


def _durable_id(spec: ObjectSpec, custom_ids: Mapping[str, str]) -> str:
    return custom_ids.get(spec.name, spec.name)


def _rule_row(index: int, rule: ValidationRuleSpec, entity_id: str) -> dict[str, Any]:
    return {
        "Id": make_id("03d", index),
        "ValidationName": rule.name,
        "Active": rule.active,
        "Description": rule.description or None,
        "ErrorDisplayField": rule.field,
        "ErrorMessage": rule.message,
        "FullName": f"{rule.sobject}.{rule.name}",
        "NamespacePrefix": None,
        "EntityDefinitionId": entity_id,
        "Metadata": {
            "active": rule.active,
            "description": rule.description or None,
            "errorConditionFormula": rule.formula,
            "errorDisplayField": rule.field,
            "errorMessage": rule.message,
            "shouldEvaluateOnClient": None,
            "urls": None,
        },
    }


def _trigger_row(index: int, trigger: TriggerSpec, entity_id: str) -> dict[str, Any]:
    events = {event.replace(" ", "").lower() for event in trigger.events}
    body = f"trigger {trigger.name} on {trigger.sobject} ({', '.join(trigger.events)}) {{\n    // emulated\n}}"
    row: dict[str, Any] = {
        "Id": make_id("01q", index),
        "Name": trigger.name,
        "TableEnumOrId": trigger.sobject,
        "EntityDefinitionId": entity_id,
        "Status": "Active",
        "IsValid": True,
        "ApiVersion": 62.0,
        "Body": body,
        "LengthWithoutComments": len(body),
        "NamespacePrefix": None,
        "UsageIsBulk": True,
    }
    for usage in _USAGES:
        row[f"Usage{usage}"] = usage.lower() in events
    return row


def _field_rows(spec: ObjectSpec, entity_id: str, start: int) -> list[dict[str, Any]]:
    rows = []
    for offset, field in enumerate(f for f in spec.fields.values() if f.name.endswith("__c")):
        rows.append(
            {
                "Id": make_id("00N", start + offset),
                "DeveloperName": field.name.removesuffix("__c"),
                "TableEnumOrId": entity_id,
                "EntityDefinitionId": entity_id,
                "Description": field.description or None,
                "Length": field.length or None,
                "Precision": field.precision or None,
                "Scale": field.scale or None,
                "InlineHelpText": None,
                "RelationshipLabel": None,
                "NamespacePrefix": None,
                "ManageableState": "unmanaged",
                "FullName": f"{spec.name}.{field.name}",
                "Metadata": {"fullName": f"{spec.name}.{field.name}", "label": field.label, "type": field.type},
            }
        )
    return rows


@dataclass(frozen=True)
class ToolingTables:
    """Rows per Tooling entity, built once from a profile."""

    tables: Mapping[str, list[dict[str, Any]]]

    @classmethod
    def from_profile(cls, profile: Profile) -> ToolingTables:
        """Every Tooling row the profile implies, with stable ids."""
        objects = list(profile.objects.values())
        custom_ids = {o.name: make_id("01I", n) for n, o in enumerate((o for o in objects if o.custom), 1)}
        durable = {o.name: _durable_id(o, custom_ids) for o in objects}
        entities = [
            {
                "Id": make_id("000", 0)[:15] + "AAA",
                "DurableId": durable[o.name],
                "QualifiedApiName": o.name,
                "DeveloperName": o.name.removesuffix("__c"),
                "Label": o.label,
                "NamespacePrefix": None,
                "KeyPrefix": o.key_prefix,
                "IsCustomSetting": o.custom_setting,
            }
            for o in objects
        ]
        custom_objects = [
            {
                "Id": custom_ids[o.name],
                "DeveloperName": o.name.removesuffix("__c"),
                "Description": o.description or None,
                "ExternalName": None,
                "NamespacePrefix": None,
                "ManageableState": "unmanaged",
                "FullName": o.name,
                "EntityDefinitionId": durable[o.name],
            }
            for o in objects
            if o.custom
        ]
        fields: list[dict[str, Any]] = []
        for o in objects:
            fields.extend(_field_rows(o, durable[o.name], len(fields) + 1))
        rules = [_rule_row(n, r, durable.get(r.sobject, r.sobject)) for n, r in enumerate(profile.validation_rules, 1)]
        triggers = [_trigger_row(n, t, durable.get(t.sobject, t.sobject)) for n, t in enumerate(profile.triggers, 1)]
        return cls(
            {
                "EntityDefinition": entities,
                "ValidationRule": rules,
                "ApexTrigger": triggers,
                "CustomObject": custom_objects,
                "CustomField": fields,
            }
        )

    def describe(self, entity: str) -> dict[str, Any] | None:
        """The describe of a Tooling entity (case-insensitive), or None."""
        return next((d for name, d in DESCRIBES.items() if name.lower() == entity.lower()), None)

    def rows(self, entity: str) -> Iterable[dict[str, Any]]:
        """Every row of `entity` (its canonical name)."""
        return self.tables.get(entity, [])

    def get(self, entity: str, key: str) -> dict[str, Any] | None:
        """A row by Id (EntityDefinition rows by DurableId, which is what `EntityDefinitionId` holds)."""
        field = _KEYS.get(entity, "Id")
        return next((row for row in self.tables.get(entity, []) if row.get(field) == key), None)
