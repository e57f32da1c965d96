"""Field metadata and validation rules of an org, parsed from describe JSON and Tooling API records.

account = parse_describe(describe_json)          # SObjectMeta
rules = parse_validation_rules(tooling_records)  # list[ValidationRuleMeta]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "encryptedstring", "combobox", "id"})
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
INTEGER_TYPES = frozenset({"int", "long"})


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """What describe says about one field (only what validation needs)."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    picklist_values: frozenset[str] = frozenset()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    external_id: bool = False
    precision: int = 0
    scale: int = 0
    calculated: bool = False

    @property
    def required(self) -> bool:
        """Required on create: createable, not nillable, not defaulted (booleans are never "missing")."""
        return self.createable and not self.nillable and not self.defaulted_on_create and self.type != "boolean"


@dataclass(frozen=True, slots=True)
class SObjectMeta:
    """The fields of one SObject, by API name, and its lookups by relationship name."""

    name: str
    fields: Mapping[str, FieldMeta]
    relationships: Mapping[str, FieldMeta] = field(default_factory=dict)

    required_fields: tuple[str, ...] = field(init=False, default=())
    external_id_fields: frozenset[str] = field(init=False, default=frozenset())  # flagged `externalId` in describe

    def __post_init__(self) -> None:
        # Computed once: every insert is checked against them, every parent reference against the external IDs.
        required = tuple(sorted(name for name, meta in self.fields.items() if meta.required))
        object.__setattr__(self, "required_fields", required)
        external_ids = frozenset(name for name, meta in self.fields.items() if meta.external_id)
        object.__setattr__(self, "external_id_fields", external_ids)


@dataclass(frozen=True, slots=True)
class ValidationRuleMeta:
    """A validation rule as the Tooling API returns it (formula from `Metadata.errorConditionFormula`)."""

    name: str
    sobject: str
    active: bool
    formula: str
    error_message: str
    error_display_field: str | None = None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_field(raw: Mapping[str, Any]) -> FieldMeta:
    """One entry of describe's `fields[]`."""
    picklist = raw.get("picklistValues") or []
    return FieldMeta(
        name=str(raw["name"]),
        type=str(raw.get("type") or "string"),
        length=_int(raw.get("length")),
        nillable=bool(raw.get("nillable", True)),
        createable=bool(raw.get("createable", True)),
        updateable=bool(raw.get("updateable", True)),
        defaulted_on_create=bool(raw.get("defaultedOnCreate", False)),
        picklist_values=frozenset(str(p["value"]) for p in picklist if p.get("active", True)),
        restricted_picklist=bool(raw.get("restrictedPicklist", False)),
        reference_to=tuple(raw.get("referenceTo") or ()),
        relationship_name=raw.get("relationshipName"),
        external_id=bool(raw.get("externalId", False)),
        # An int field's size is `digits` in describe (its `precision` is 0).
        precision=_int(raw.get("precision") or raw.get("digits")),
        scale=_int(raw.get("scale")),
        calculated=bool(raw.get("calculated", False)),
    )


def parse_describe(describe: Mapping[str, Any]) -> SObjectMeta:
    """An SObject's metadata from `GET /sobjects/{S}/describe/`."""
    fields = {meta.name: meta for meta in map(parse_field, describe.get("fields") or [])}
    relationships = {m.relationship_name: m for m in fields.values() if m.relationship_name and m.reference_to}
    return SObjectMeta(name=str(describe["name"]), fields=fields, relationships=relationships)


def _rule_sobject(record: Mapping[str, Any]) -> str:
    entity = record.get("EntityDefinition")
    if isinstance(entity, Mapping) and entity.get("QualifiedApiName"):
        return str(entity["QualifiedApiName"])
    full_name = str(record.get("FullName") or "")
    return full_name.partition(".")[0] or str(record.get("EntityDefinitionId") or "")


def parse_validation_rule(record: Mapping[str, Any]) -> ValidationRuleMeta:
    """One Tooling API `ValidationRule` record (with `Metadata` selected)."""
    metadata = record.get("Metadata") or {}
    name = record.get("ValidationName") or str(record.get("FullName") or "").rpartition(".")[2]
    return ValidationRuleMeta(
        name=str(name),
        sobject=_rule_sobject(record),
        active=bool(record.get("Active", metadata.get("active", False))),
        formula=str(metadata.get("errorConditionFormula") or record.get("errorConditionFormula") or ""),
        error_message=str(record.get("ErrorMessage") or metadata.get("errorMessage") or ""),
        error_display_field=record.get("ErrorDisplayField") or metadata.get("errorDisplayField"),
    )


def parse_validation_rules(records: Iterable[Mapping[str, Any]]) -> list[ValidationRuleMeta]:
    """Every rule in `records`, in order, active or not (validation skips the inactive ones)."""
    return [parse_validation_rule(record) for record in records]
