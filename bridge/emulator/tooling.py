"""Tooling API entities derived from the profile: ValidationRule, ApexTrigger, CustomObject, CustomField,
FieldDefinition and PlatformEventChannelMember rows.

Field descriptions live in the Tooling API, not in describe: `CustomField.Description` for custom fields and
`FieldDefinition.Description` for every field. Change Data Capture selections are `PlatformEventChannelMember`
rows on the standard `ChangeEvents` channel, one per selected entity (`AccountChangeEvent`,
`Invoice__ChangeEvent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.emulator.ids import make_id
from bridge.emulator.profile import FieldSpec, ObjectSpec, Profile, TriggerSpec

TOOLING_ENTITIES = (
    "ValidationRule",
    "ApexTrigger",
    "CustomObject",
    "CustomField",
    "FieldDefinition",
    "PlatformEventChannelMember",
)
_EVENTS = ("before insert", "after insert", "before update", "after update", "before delete", "after delete")


def _entity_id(profile: Profile, spec: ObjectSpec) -> str:
    # Standard objects are named by API name; custom ones by their CustomObject id, as on a real org.
    if not spec.custom:
        return spec.name
    index = list(profile.objects).index(spec.name) + 1
    return make_id("01I", index)


def _entity(spec: ObjectSpec) -> dict[str, Any]:
    return {"QualifiedApiName": spec.name, "DeveloperName": spec.name.removesuffix("__c")}


def validation_rules(profile: Profile) -> list[dict[str, Any]]:
    """ValidationRule rows with `Metadata.errorConditionFormula`."""
    rows = []
    for number, rule in enumerate(profile.validation_rules, start=1):
        spec = profile.objects[rule.sobject]
        rows.append(
            {
                "Id": make_id("03d", number),
                "ValidationName": rule.name,
                "Active": rule.active,
                "Description": rule.description or None,
                "ErrorDisplayField": rule.field,
                "ErrorMessage": rule.message,
                "EntityDefinitionId": _entity_id(profile, spec),
                "EntityDefinition": _entity(spec),
                "NamespacePrefix": None,
                "FullName": f"{rule.sobject}.{rule.name}",
                "Metadata": {
                    "active": rule.active,
                    "description": rule.description or None,
                    "errorConditionFormula": rule.formula,
                    "errorDisplayField": rule.field,
                    "errorMessage": rule.message,
                },
            }
        )
    return rows


def trigger_body(trigger: TriggerSpec, bypass_setting: str) -> str:
    """Apex source standing in for the trigger: its events, its bypass check and its cost."""
    lines = [f"trigger {trigger.name} on {trigger.sobject} ({', '.join(trigger.events)}) {{"]
    if not trigger.essential and bypass_setting:
        flags = ["All__c", *([trigger.bypass_flag] if trigger.bypass_flag else [])]
        checks = " || ".join(f"{bypass_setting}.getInstance().{flag}" for flag in flags)
        lines.append(f"    if ({checks}) {{ return; }}")
    lines.append(f"    // about {trigger.cpu_ms_per_record:g} ms of CPU per record")
    lines.extend(f"    // side effect: {effect.kind} {effect.parent}" for effect in trigger.side_effects)
    lines.append(f"    new {trigger.name}Handler().run();")
    lines.append("}")
    return "\n".join(lines)


def apex_triggers(profile: Profile) -> list[dict[str, Any]]:
    """ApexTrigger rows with a Body and the Usage* flags."""
    rows = []
    for number, trigger in enumerate(profile.triggers, start=1):
        spec = profile.objects[trigger.sobject]
        body = trigger_body(trigger, profile.bypass_setting)
        row: dict[str, Any] = {
            "Id": make_id("01q", number),
            "Name": trigger.name,
            "TableEnumOrId": _entity_id(profile, spec),
            "EntityDefinitionId": _entity_id(profile, spec),
            "EntityDefinition": _entity(spec),
            "Status": "Active",
            "IsValid": True,
            "ApiVersion": 62.0,
            "Body": body,
            "LengthWithoutComments": len(body),
            "NamespacePrefix": None,
            "UsageIsBulk": True,
        }
        for event in _EVENTS:
            row["Usage" + "".join(p.capitalize() for p in event.split())] = event in trigger.events
        rows.append(row)
    return rows


def custom_objects(profile: Profile) -> list[dict[str, Any]]:
    """CustomObject rows for the custom objects and settings."""
    return [
        {
            "Id": _entity_id(profile, spec),
            "DeveloperName": spec.name.removesuffix("__c"),
            "NamespacePrefix": None,
            "Description": spec.description or None,
            "ExternalName": None,
            "FullName": spec.name,
            "ManageableState": "unmanaged",
        }
        for spec in profile.objects.values()
        if spec.custom
    ]


def custom_fields(profile: Profile) -> list[dict[str, Any]]:
    """CustomField rows for every `__c` field."""
    rows = []
    number = 0
    for spec in profile.objects.values():
        for field in spec.fields.values():
            if not field.name.endswith("__c"):
                continue
            number += 1
            rows.append(
                {
                    "Id": make_id("00N", number),
                    "DeveloperName": field.name.removesuffix("__c"),
                    "TableEnumOrId": _entity_id(profile, spec),
                    "Description": field.description or None,
                    "Length": field.length or None,
                    "Precision": field.precision or None,
                    "Scale": field.scale or None,
                    "InlineHelpText": field.help_text or None,
                    "RelationshipLabel": None,
                    "NamespacePrefix": None,
                    "ManageableState": "unmanaged",
                    "FullName": f"{spec.name}.{field.name}",
                    "Metadata": {
                        "label": field.label,
                        "type": field.type,
                        "description": field.description or None,
                        "externalId": field.external_id,
                        "unique": field.unique,
                        "required": field.required,
                        "length": field.length or None,
                    },
                }
            )
    return rows


_DATA_TYPES = {
    "id": "Lookup()",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "Date/Time",
    "email": "Email",
    "phone": "Phone",
    "url": "URL",
    "picklist": "Picklist",
    "multipicklist": "Picklist (Multi-Select)",
    "textarea": "Long Text Area({length})",
    "string": "Text({length})",
    "int": "Number({precision}, 0)",
    "double": "Number({precision}, {scale})",
    "currency": "Currency({precision}, {scale})",
    "percent": "Percent({precision}, {scale})",
}


def _data_type(field: FieldSpec, objects: Mapping[str, ObjectSpec]) -> str:
    """The field's type as Setup shows it (`Text(80)`, `Master-Detail(Invoice)`), which FieldDefinition reports."""
    if field.type == "reference" and field.reference_to:
        parent = objects.get(field.reference_to)
        label = parent.label if parent else field.reference_to
        return f"{'Master-Detail' if field.master_detail else 'Lookup'}({label})"
    template = _DATA_TYPES.get(field.type, field.type)
    return template.format(length=field.length, precision=field.precision or 18, scale=field.scale)


def _field_durable_id(profile: Profile, spec: ObjectSpec, field: FieldSpec, custom_ids: Mapping[str, str]) -> str:
    # Standard fields are named by API name; custom fields by their CustomField id, as on a real org.
    name = custom_ids.get(f"{spec.name}.{field.name}", field.name)
    return f"{_entity_id(profile, spec)}.{name}"


def field_definitions(profile: Profile) -> list[dict[str, Any]]:
    """FieldDefinition rows for every field of every object, with `Description` (null for standard fields)."""
    custom_ids = {str(row["FullName"]): str(row["Id"]) for row in custom_fields(profile)}
    rows = []
    for spec in profile.objects.values():
        for field in spec.fields.values():
            durable_id = _field_durable_id(profile, spec, field, custom_ids)
            rows.append(
                {
                    "Id": "000000000000000AAA",  # FieldDefinition rows share one placeholder Id
                    "DurableId": durable_id,
                    "QualifiedApiName": field.name,
                    "DeveloperName": field.name.removesuffix("__c"),
                    "Label": field.label or field.name,
                    "DataType": _data_type(field, profile.objects),
                    "Description": field.description or None,
                    "EntityDefinitionId": _entity_id(profile, spec),
                    "EntityDefinition": _entity(spec),
                    "IsIndexed": field.indexed or field.type == "id",
                    "IsNillable": not field.required,
                    "NamespacePrefix": None,
                    "RelationshipName": field.relationship_name,
                    "ReferenceTo": {"referenceTo": [field.reference_to]} if field.reference_to else None,
                }
            )
    return rows


def change_event_name(sobject: str) -> str:
    """The change event entity of an object: `AccountChangeEvent`, `Invoice__ChangeEvent`."""
    return f"{sobject.removesuffix('__c')}__ChangeEvent" if sobject.endswith("__c") else f"{sobject}ChangeEvent"


def channel_members(profile: Profile) -> list[dict[str, Any]]:
    """PlatformEventChannelMember rows: the objects selected for Change Data Capture on `ChangeEvents`."""
    rows: list[dict[str, Any]] = []
    selected = [s for s in profile.objects.values() if s.change_events and not (s.platform_event or s.custom_setting)]
    for number, spec in enumerate(selected, start=1):
        entity = change_event_name(spec.name)
        developer_name = f"ChangeEvents_{entity.replace('__', '_')}"
        rows.append(
            {
                "Id": make_id("0v8", number),
                "DeveloperName": developer_name,
                "MasterLabel": entity,
                "EventChannel": "ChangeEvents",
                "SelectedEntity": entity,
                "FilterExpression": None,
                "NamespacePrefix": None,
                "FullName": developer_name,
                "Metadata": {
                    "eventChannel": "ChangeEvents",
                    "selectedEntity": entity,
                    "enrichedFields": [],
                    "filterExpression": None,
                },
            }
        )
    return rows


def tooling_rows(profile: Profile, entity: str) -> list[dict[str, Any]]:
    """Rows of a Tooling entity; an unknown entity has none."""
    build = {
        "ValidationRule": validation_rules,
        "ApexTrigger": apex_triggers,
        "CustomObject": custom_objects,
        "CustomField": custom_fields,
        "FieldDefinition": field_definitions,
        "PlatformEventChannelMember": channel_members,
    }.get(entity)
    return build(profile) if build else []
