"""An org metadata snapshot on disk: describe JSON and Tooling API records exactly as the org returned them.

`crm-bridge catalog --out DIR` writes one; the processor loads one to validate without calling Salesforce at
start-up. Layout: `DIR/describe/<SObject>.json`, `DIR/validation_rules/<SObject>.json` (a list of
ValidationRule records with `Metadata`), `DIR/triggers/<SObject>.json` (ApexTrigger records).

    org = load_snapshot(Path("catalog"))
    org.objects["Account"].fields["Name"].required
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bridge.errors import ConfigError
from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta, parse_describe, parse_validation_rules


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    """Raw metadata per SObject, as the org answered."""

    describes: Mapping[str, Mapping[str, Any]]
    validation_rules: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    triggers: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


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
    ):
        for sobject, document in sorted(documents.items()):
            path = directory / folder / f"{sobject}.json"
            _dump(path, document)
            written.append(path)
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
    return OrgSnapshot(describes, _read_folder(directory / "validation_rules"), _read_folder(directory / "triggers"))


def load_snapshot(directory: Path) -> OrgModel:
    """Read and parse a snapshot."""
    return parse_snapshot(read_snapshot(directory))
