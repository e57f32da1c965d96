"""Describe results: describeGlobal and the sObject describe, with every documented key present."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bridge.emulator.profile import FieldSpec, ObjectSpec

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def _urls(name: str, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _global_entry(spec: ObjectSpec, version: str) -> dict[str, Any]:
    writable = True
    return {
        "name": spec.name,
        "label": spec.label,
        "labelPlural": spec.label_plural,
        "keyPrefix": spec.key_prefix,
        "custom": spec.custom,
        "customSetting": spec.custom_setting,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "queryable": True,
        "searchable": not spec.custom_setting,
        "retrieveable": True,
        "replicateable": not spec.custom_setting,
        "triggerable": not spec.custom_setting,
        "undeletable": not spec.custom_setting,
        "mergeable": spec.name in {"Account", "Contact"},
        "layoutable": not spec.custom_setting,
        "activateable": False,
        "feedEnabled": False,
        "mruEnabled": not spec.custom_setting,
        "deprecatedAndHidden": False,
        # Set on associated objects (Share, History, Feed, ChangeEvent); the emulator lists none of those.
        "associateEntityType": None,
        "associateParentEntity": None,
        "urls": _urls(spec.name, version),
    }


def describe_global(objects: Iterable[ObjectSpec], version: str) -> dict[str, Any]:
    """`GET /sobjects/`."""
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [_global_entry(o, version) for o in objects]}


def _picklist(spec: FieldSpec) -> list[dict[str, Any]]:
    return [{"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in spec.picklist]


def _field_type(spec: FieldSpec, relationship_order: int | None) -> dict[str, Any]:
    text = spec.type not in _SOAP_TYPES
    return {
        "name": spec.name,
        "label": spec.label or spec.name,
        "type": spec.type,
        "soapType": _SOAP_TYPES.get(spec.type, "xsd:string"),
        "length": spec.length if text else 0,
        "byteLength": spec.length * 3 if text else (18 if spec.type in {"id", "reference"} else 0),
        "digits": spec.precision if spec.type == "int" else 0,
        "precision": spec.precision if spec.type in {"double", "currency", "percent"} else 0,
        "scale": spec.scale,
        "picklistValues": _picklist(spec),
        "restrictedPicklist": spec.restricted,
        "dependentPicklist": False,
        "controllerName": None,
        "referenceTo": [spec.reference_to] if spec.reference_to else [],
        "relationshipName": spec.relationship_name,
        "relationshipOrder": relationship_order,
        "extraTypeInfo": None,
        "highScaleNumber": False,
        "displayLocationInDecimal": False,
        "mask": None,
        "maskType": None,
        "referenceTargetField": None,
    }


def _field_behaviour(spec: FieldSpec) -> dict[str, Any]:
    writable = not spec.system
    return {
        "nillable": not spec.required and spec.type not in {"boolean", "id"} and spec.name != "IsDeleted",
        "createable": writable,
        "updateable": writable,
        "defaultedOnCreate": spec.system or spec.type == "boolean",
        "defaultValue": False if spec.type == "boolean" else None,
        "defaultValueFormula": None,
        "calculated": False,
        "calculatedFormula": None,
        "externalId": spec.external_id,
        "idLookup": spec.external_id or spec.type == "id",
        "unique": spec.unique,
        "caseSensitive": spec.case_sensitive,
        "autoNumber": False,
        "custom": spec.name.endswith("__c"),
        "cascadeDelete": spec.master_detail,
        "restrictedDelete": False,
        "polymorphicForeignKey": False,
        "nameField": spec.name == "Name",
        "namePointing": False,
        "filterable": spec.type != "textarea",
        "groupable": spec.type not in {"textarea", "double", "currency", "percent", "datetime"},
        "sortable": spec.type != "textarea",
        "aggregatable": spec.type != "textarea",
        "htmlFormatted": False,
        "encrypted": False,
        "inlineHelpText": spec.help_text or None,
        "permissionable": not spec.system and not spec.required,
        "deprecatedAndHidden": False,
        "queryByDistance": False,
        "writeRequiresMasterRead": False,
    }


def describe_field(spec: FieldSpec, relationship_order: int | None = None) -> dict[str, Any]:
    """One field of the describe, with every documented key.

    `relationship_order` is 0 for an object's first (primary) master-detail field and 1 for its second, None
    for every other field, as describe reports it.
    """
    return {**_field_type(spec, relationship_order), **_field_behaviour(spec)}


def relationship_orders(spec: ObjectSpec) -> dict[str, int]:
    """Master-detail fields of `spec` by their relationshipOrder (declaration order: primary first)."""
    details = [f.name for f in spec.fields.values() if f.master_detail]
    return {name: order for order, name in enumerate(details)}


def _child_relationship_name(child: ObjectSpec, field: FieldSpec) -> str:
    if field.child_relationship:
        return field.child_relationship
    if not child.custom:
        return child.label_plural.replace(" ", "")
    return f"{child.name.removesuffix('__c')}s__r"


def child_relationships(spec: ObjectSpec, objects: Mapping[str, ObjectSpec]) -> list[dict[str, Any]]:
    """The describe's `childRelationships`: every lookup of another object to `spec`, with its name."""
    children = []
    for other in objects.values():
        for f in other.fields.values():
            if f.reference_to == spec.name and not f.system:
                children.append(
                    {
                        "childSObject": other.name,
                        "field": f.name,
                        "relationshipName": _child_relationship_name(other, f),
                        "cascadeDelete": f.master_detail,
                        "restrictedDelete": False,
                        "deprecatedAndHidden": False,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                    }
                )
    return children


def describe_sobject(spec: ObjectSpec, objects: Mapping[str, ObjectSpec], version: str) -> dict[str, Any]:
    """`GET /sobjects/{S}/describe`."""
    result = _global_entry(spec, version)
    result["urls"] = {**_urls(spec.name, version), "uiDetailTemplate": None}
    orders = relationship_orders(spec)
    result["fields"] = [describe_field(f, orders.get(f.name)) for f in spec.fields.values()]
    result["childRelationships"] = child_relationships(spec, objects)
    result["recordTypeInfos"] = []
    result["nameLayoutFields"] = []
    return result
