"""The describes of what `/query` serves besides the org's record tables: Tooling API objects (their fields, as
the Tooling API's describe names them) and User and Profile, which the emulator reads from the profile's users."""

from __future__ import annotations

from typing import Any


def _tooling_describe(name: str, spec: str, *, entity: bool = True) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [{"name": "Id", "type": "id"}]
    for item in spec.split():
        field_name, _, kind = item.partition(":")
        fields.append({"name": field_name, "type": kind or "string"})
    if entity:
        relationship = {"relationshipName": "EntityDefinition", "referenceTo": ["EntityDefinition"]}
        fields.append({"name": "EntityDefinitionId", "type": "reference", **relationship})
    return {"name": name, "fields": fields}


_EVENTS = ("BeforeInsert", "AfterInsert", "BeforeUpdate", "AfterUpdate", "BeforeDelete", "AfterDelete")
_USAGE = " ".join(f"Usage{event}:boolean" for event in (*_EVENTS, "AfterUndelete", "IsBulk"))
TOOLING_DESCRIBES: dict[str, dict[str, Any]] = {
    "EntityDefinition": _tooling_describe(
        "EntityDefinition", "DurableId QualifiedApiName DeveloperName Label NamespacePrefix", entity=False
    ),
    "ValidationRule": _tooling_describe(
        "ValidationRule",
        "ValidationName Active:boolean Description ErrorDisplayField ErrorMessage FullName NamespacePrefix "
        "Metadata:complexvalue",
    ),
    "ApexTrigger": _tooling_describe(
        "ApexTrigger",
        "Name TableEnumOrId Status IsValid:boolean ApiVersion:double Body:textarea LengthWithoutComments:int "
        f"NamespacePrefix {_USAGE}",
    ),
    "CustomObject": _tooling_describe(
        "CustomObject", "DeveloperName Description ExternalName NamespacePrefix ManageableState FullName"
    ),
    "CustomField": _tooling_describe(
        "CustomField",
        "DeveloperName TableEnumOrId Description Length:int Precision:int Scale:int InlineHelpText "
        "RelationshipLabel NamespacePrefix ManageableState FullName Metadata:complexvalue",
    ),
    "FieldDefinition": _tooling_describe(
        "FieldDefinition",
        "DurableId QualifiedApiName DeveloperName Label DataType Description:textarea IsIndexed:boolean "
        "IsNillable:boolean NamespacePrefix RelationshipName ReferenceTo:complexvalue",
    ),
    "PlatformEventChannelMember": _tooling_describe(
        "PlatformEventChannelMember",
        "DeveloperName MasterLabel EventChannel SelectedEntity FilterExpression NamespacePrefix FullName "
        "Metadata:complexvalue",
        entity=False,
    ),
}


# User and Profile are not record tables of the org; queries on them read the profile's users.
USER_DESCRIBES: dict[str, dict[str, Any]] = {
    "User": {
        "name": "User",
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Username", "type": "string"},
            {"name": "Name", "type": "string"},
            {"name": "Alias", "type": "string"},
            {"name": "IsActive", "type": "boolean"},
            {"name": "ProfileId", "type": "reference", "referenceTo": ["Profile"], "relationshipName": "Profile"},
        ],
    },
    "Profile": {"name": "Profile", "fields": [{"name": "Id", "type": "id"}, {"name": "Name", "type": "string"}]},
}
