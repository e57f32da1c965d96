"""The org profile: objects, fields, validation and duplicate rules, triggers, custom settings, users and apps.

A profile is a JSON data file (`profiles/default.json` is the enterprise-like default, `profiles/messy.json` a
larger org with inconsistent naming for the catalog); `load_profile("default")` or `load_profile(path)` reads one
into frozen dataclasses. The format is documented in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from bridge.errors import ConfigError


class ProfileError(ConfigError):
    """The org profile file is missing, not JSON, or does not have the documented shape."""


MERGEABLE = frozenset({"Account", "Contact", "Lead"})  # the objects SOAP merge() and the UI can merge
SYSTEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("Id", "id"),
    ("IsDeleted", "boolean"),
    ("CreatedDate", "datetime"),
    ("CreatedById", "reference"),
    ("LastModifiedDate", "datetime"),
    ("LastModifiedById", "reference"),
    ("SystemModstamp", "datetime"),
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an sObject with the properties describe reports and the write path enforces.

    `master_detail` makes a reference a master-detail relationship (required, cascade delete);
    `child_relationship` names the relationship on the parent's side (`Invoices__r`); `help_text` is describe's
    `inlineHelpText`, `description` the Tooling API's (describe carries no descriptions).
    """

    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0
    system: bool = False
    description: str = ""
    help_text: str = ""
    master_detail: bool = False
    child_relationship: str | None = None

    @property
    def indexed(self) -> bool:
        """Kept in an index: unique and external-id fields (for matching) and lookups (for roll-ups)."""
        return self.unique or self.external_id or self.type == "reference"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """An sObject: name, key prefix and fields (system fields included)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: Mapping[str, FieldSpec]
    custom: bool = False
    custom_setting: bool = False
    platform_event: bool = False
    change_events: bool = True
    description: str = ""

    def field(self, name: str) -> FieldSpec | None:
        """The field named `name`, matched case-insensitively as Salesforce does."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)


@dataclass(frozen=True, slots=True)
class ValidationRuleSpec:
    """A validation rule: when `formula` evaluates to TRUE the save fails with `message` on `field`."""

    name: str
    sobject: str
    formula: str
    message: str
    field: str | None = None
    active: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class SideEffect:
    """What a trigger does besides spending CPU.

    `rollup`: sum `source_field` of the children over `lookup_field` into `parent_field` of the parent (`parent`);
    the parent update fires the parent's triggers. `touch_self`: update the same records again, which re-fires
    the trigger (unbounded recursion, for testing the depth limit).
    """

    kind: str
    lookup_field: str = ""
    parent: str = ""
    source_field: str = ""
    parent_field: str = ""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """An Apex trigger: its object, events (`after insert`, ...), CPU cost per record, and bypass behaviour."""

    name: str
    sobject: str
    events: tuple[str, ...]
    cpu_ms_per_record: float
    essential: bool = False
    bypass_flag: str | None = None
    side_effects: tuple[SideEffect, ...] = ()


@dataclass(frozen=True, slots=True)
class DuplicateRuleSpec:
    """An active duplicate rule with its matching rule: records whose `fields` all equal another record's match.

    Matching is exact after trimming and ignoring case; a blank field never matches (the matching rule's
    default "Match blank fields" off). `action` `allow` with `alert` fails an API save with DUPLICATES_DETECTED
    unless the request sends `Sforce-Duplicate-Rule-Header: allowSave=true`; `block` always fails it.
    """

    name: str
    sobject: str
    fields: tuple[str, ...]
    matching_rule: str = ""
    action: str = "allow"
    alert: bool = True
    operations: tuple[str, ...] = ("insert", "update")
    message: str = "Use one of these records?"
    active: bool = True


@dataclass(frozen=True, slots=True)
class UserSpec:
    """A user the org knows: integration users are the ones connected apps run as."""

    username: str
    id: str
    profile_id: str
    profile_name: str
    name: str = ""
    alias: str = ""


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    """An OAuth client: client credentials run as `run_as`; JWT bearer needs `public_key_pem`."""

    name: str
    client_id: str
    client_secret: str
    run_as: str
    public_key_pem: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything that defines an emulated org before any data is written."""

    org_id: str
    org_name: str
    objects: Mapping[str, ObjectSpec]
    validation_rules: tuple[ValidationRuleSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    users: tuple[UserSpec, ...]
    connected_apps: tuple[ConnectedApp, ...]
    bypass_setting: str
    records: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    duplicate_rules: tuple[DuplicateRuleSpec, ...] = ()
    daily_api_limit: int = 100_000
    session_timeout_s: float = 7200.0
    concurrent_long_limit: int = 25

    def sobject(self, name: str) -> ObjectSpec | None:
        """The object named `name` (case-insensitive)."""
        found = self.objects.get(name)
        if found is not None:
            return found
        return next((o for n, o in self.objects.items() if n.lower() == name.lower()), None)

    def user(self, username_or_id: str) -> UserSpec | None:
        """A user by username or id."""
        return next((u for u in self.users if username_or_id in (u.username, u.id)), None)

    def with_duplicate_rules(self, *, active: bool = True) -> Profile:
        """The same profile with every duplicate rule switched on (or off): the default profile ships them off."""
        rules = tuple(replace(rule, active=active) for rule in self.duplicate_rules)
        return replace(self, duplicate_rules=rules)


def _field(raw: Mapping[str, Any]) -> FieldSpec:
    data = dict(raw)
    data["picklist"] = tuple(data.get("picklist", ()))
    if data.get("master_detail"):
        if not data.get("reference_to"):
            raise ValueError(f"master-detail field {data.get('name')!r} names no reference_to")
        data["required"] = True  # a detail record always has its master
    return FieldSpec(**data)


def _object(raw: Mapping[str, Any]) -> ObjectSpec:
    fields = {name: FieldSpec(name, kind, label=name, system=True) for name, kind in SYSTEM_FIELDS}
    fields["CreatedById"] = FieldSpec("CreatedById", "reference", "Created By ID", reference_to="User", system=True)
    fields["LastModifiedById"] = FieldSpec(
        "LastModifiedById", "reference", "Last Modified By ID", reference_to="User", system=True
    )
    for item in raw["fields"]:
        spec = _field(item)
        fields[spec.name] = spec
    if raw["name"] in MERGEABLE:
        # Set on the records a merge deleted, to the winner's Id (read with queryAll).
        fields["MasterRecordId"] = FieldSpec(
            "MasterRecordId", "reference", "Master Record ID", reference_to=raw["name"], system=True
        )
    data = {k: v for k, v in raw.items() if k != "fields"}
    return ObjectSpec(fields=fields, **data)


def _trigger(raw: Mapping[str, Any]) -> TriggerSpec:
    data = dict(raw)
    data["events"] = tuple(data["events"])
    data["side_effects"] = tuple(SideEffect(**s) for s in data.get("side_effects", ()))
    return TriggerSpec(**data)


def _duplicate_rule(raw: Mapping[str, Any]) -> DuplicateRuleSpec:
    data = dict(raw)
    data["fields"] = tuple(data["fields"])
    data["operations"] = tuple(data.get("operations", ("insert", "update")))
    if data.get("action", "allow") not in ("allow", "block"):
        raise ValueError(f"duplicate rule {data['name']}: action must be allow or block")
    return DuplicateRuleSpec(**data)


def parse_profile(raw: Mapping[str, Any]) -> Profile:
    """Build a `Profile` from its JSON form."""
    objects = {o["name"]: _object(o) for o in raw["objects"]}
    return Profile(
        org_id=raw["org_id"],
        org_name=raw.get("org_name", "Emulated Org"),
        objects=objects,
        validation_rules=tuple(ValidationRuleSpec(**r) for r in raw.get("validation_rules", ())),
        triggers=tuple(_trigger(t) for t in raw.get("triggers", ())),
        users=tuple(UserSpec(**u) for u in raw["users"]),
        connected_apps=tuple(ConnectedApp(**a) for a in raw["connected_apps"]),
        bypass_setting=raw.get("bypass_setting", ""),
        records={k: tuple(v) for k, v in raw.get("records", {}).items()},
        duplicate_rules=tuple(_duplicate_rule(r) for r in raw.get("duplicate_rules", ())),
        **{k: raw[k] for k in ("daily_api_limit", "session_timeout_s", "concurrent_long_limit") if k in raw},
    )


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with the emulator (`default`, `messy`)."""
    folder = resources.files("bridge.emulator.profiles")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def is_bundled_name(source: str) -> bool:
    """Whether `source` names a bundled profile rather than a file (no `/`, no `.json`)."""
    return "/" not in source and not source.endswith(".json")


def load_profile(source: str | Path = "default") -> Profile:
    """Load a bundled profile by name (`default`, `messy`) or a profile file by path; raises `ProfileError`."""
    try:
        if isinstance(source, str) and is_bundled_name(source):
            if source not in bundled_profiles():
                raise ProfileError(f"no bundled org profile {source!r}; bundled: {', '.join(bundled_profiles())}")
            text = resources.files("bridge.emulator.profiles").joinpath(f"{source}.json").read_bytes()
        else:
            text = Path(source).read_bytes()
        return parse_profile(orjson.loads(text))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read org profile {source}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProfileError(f"org profile {source} does not have the documented shape: {exc!r}") from exc
