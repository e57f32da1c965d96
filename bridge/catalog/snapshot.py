"""An org metadata snapshot on disk: describe JSON and Tooling API records exactly as the org returned them.

`crm-bridge catalog --out DIR` writes one; the processor loads one to validate without calling Salesforce at
start-up. Layout: `DIR/describe/<SObject>.json`, `DIR/validation_rules/<SObject>.json` (a list of
ValidationRule records with `Metadata`), `DIR/triggers/<SObject>.json` (ApexTrigger records), and for the
documentation `DIR/field_definitions/<SObject>.json` (FieldDefinition records with `Description`) and
`DIR/org.json` (describe-global entries, record counts, CustomObject and PlatformEventChannelMember records, and
notes on what the org would not tell).

    org = load_snapshot(Path("catalog"))
    org.objects["Account"].fields["Name"].required
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bridge.errors import ConfigError
from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta, parse_describe, parse_validation_rules


@dataclass(frozen=True, slots=True)
class OrgFacts:
    """What the org says about itself beyond the describes, as it answered (all optional)."""

    sobjects: Sequence[Mapping[str, Any]] = ()
    """describe-global entries of the documented objects."""
    record_counts: Mapping[str, int] = field(default_factory=dict)
    custom_objects: Sequence[Mapping[str, Any]] = ()
    """Tooling API CustomObject records (their `Description`)."""
    channel_members: Sequence[Mapping[str, Any]] = ()
    """Tooling API PlatformEventChannelMember records: the Change Data Capture selections."""
    notes: Sequence[str] = ()
    """Metadata the org would not give (a Tooling object refused, say), in words."""
    left_out: Sequence[str] = ()
    """Standard objects not documented: no data, not referenced by a custom object, not asked for."""

    def __post_init__(self) -> None:
        # Tuples whatever came in, so a snapshot read back from disk equals the one written.
        for name in ("sobjects", "custom_objects", "channel_members", "notes", "left_out"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def as_json(self) -> dict[str, Any]:
        """The `org.json` document."""
        return {
            "sobjects": list(self.sobjects),
            "record_counts": dict(self.record_counts),
            "custom_objects": list(self.custom_objects),
            "channel_members": list(self.channel_members),
            "notes": list(self.notes),
            "left_out": list(self.left_out),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> OrgFacts:
        """Read an `org.json` document."""
        counts = document.get("record_counts") or {}
        return cls(
            sobjects=tuple(document.get("sobjects") or ()),
            record_counts={str(k): int(v) for k, v in counts.items()},
            custom_objects=tuple(document.get("custom_objects") or ()),
            channel_members=tuple(document.get("channel_members") or ()),
            notes=tuple(str(n) for n in document.get("notes") or ()),
            left_out=tuple(str(n) for n in document.get("left_out") or ()),
        )


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    """Raw metadata per SObject, as the org answered."""

    describes: Mapping[str, Mapping[str, Any]]
    validation_rules: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    triggers: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    field_definitions: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    facts: OrgFacts = field(default_factory=OrgFacts)

    def only(self, names: Iterable[str]) -> OrgSnapshot:
        """The snapshot restricted to `names` (the org-wide facts kept whole)."""
        keep = set(names)

        def pick(documents: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in documents.items() if k in keep}

        return OrgSnapshot(
            pick(self.describes),
            pick(self.validation_rules),
            pick(self.triggers),
            pick(self.field_definitions),
            self.facts,
        )


@dataclass(frozen=True, slots=True)
class OrgModel:
    """Parsed metadata: what validation needs."""

    objects: Mapping[str, SObjectMeta]
    rules: Mapping[str, list[ValidationRuleMeta]]


def parse_snapshot(snapshot: OrgSnapshot) -> OrgModel:
    """Parse every describe and rule record of a snapshot."""
    objects = {name: parse_describe(describe) for name, describe in snapshot.describes.items()}
    rules = {name: parse_validation_rules(records) for name, records in snapshot.validation_rules.items()}
    return OrgModel(objects, rules)


def _dump(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def write_snapshot(directory: Path, snapshot: OrgSnapshot) -> list[Path]:
    """Write the snapshot's files under `directory`; returns the paths written."""
    written: list[Path] = []
    for folder, documents in (
        ("describe", snapshot.describes),
        ("validation_rules", snapshot.validation_rules),
        ("triggers", snapshot.triggers),
        ("field_definitions", snapshot.field_definitions),
    ):
        for sobject, document in sorted(documents.items()):
            path = directory / folder / f"{sobject}.json"
            _dump(path, document)
            written.append(path)
    _dump(directory / "org.json", snapshot.facts.as_json())
    written.append(directory / "org.json")
    return written


def _read_folder(directory: Path) -> dict[str, Any]:
    try:
        return {path.stem: orjson.loads(path.read_bytes()) for path in sorted(directory.glob("*.json"))}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the org snapshot in {directory}: {exc}") from exc


def read_snapshot(directory: Path) -> OrgSnapshot:
    """Read a snapshot written by `write_snapshot`."""
    describes = _read_folder(directory / "describe")
    if not describes:
        raise ConfigError(f"no describe files under {directory / 'describe'}")
    facts = OrgFacts()
    if (directory / "org.json").is_file():
        try:
            facts = OrgFacts.from_json(orjson.loads((directory / "org.json").read_bytes()))
        except (OSError, orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"cannot read {directory / 'org.json'}: {exc}") from exc
    return OrgSnapshot(
        describes,
        _read_folder(directory / "validation_rules"),
        _read_folder(directory / "triggers"),
        _read_folder(directory / "field_definitions"),
        facts,
    )


def load_snapshot(directory: Path) -> OrgModel:
    """Read and parse a snapshot."""
    return parse_snapshot(read_snapshot(directory))
