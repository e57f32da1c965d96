"""Which objects of an org to document: every custom object, and the standard objects that matter.

An org's describe-global lists hundreds of standard objects, most of them empty plumbing. The catalog keeps
the custom objects (custom settings and platform events included), the standard objects that hold data or that
a custom object references, and whatever `--include` names; `--exclude` drops objects by pattern. Associated
objects (Share, History, Feed, ChangeEvent) are never documented on their own.

    selection = Selection(include=("Case*",), exclude=("*__mdt",), always=frozenset({"Account"}))
    custom, standard = candidates(describe_global["sobjects"], selection)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# describe-global marks associated objects with `associateEntityType`; the suffixes catch older API versions.
_ASSOCIATED_SUFFIXES = ("__Share", "__History", "__Feed", "__Tag", "ChangeEvent")


@dataclass(frozen=True, slots=True)
class Selection:
    """Patterns (shell-style, case-insensitive) that widen or narrow the documented objects."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    always: frozenset[str] = field(default_factory=frozenset)
    """Objects documented whatever their data: the ones the mappings write."""

    def included(self, name: str) -> bool:
        """Named by `--include` or written by a mapping."""
        return name in self.always or _matches(name, self.include)

    def excluded(self, name: str) -> bool:
        """Named by `--exclude` (which wins over everything but the mappings' objects)."""
        return name not in self.always and _matches(name, self.exclude)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def is_associated(entry: Mapping[str, Any]) -> bool:
    """A Share, History, Feed or ChangeEvent object that belongs to another object."""
    if entry.get("associateEntityType"):
        return True
    return str(entry.get("name") or "").endswith(_ASSOCIATED_SUFFIXES)


def candidates(entries: Iterable[Mapping[str, Any]], selection: Selection) -> tuple[list[str], list[str]]:
    """(custom, standard) object names worth a look, each sorted; excluded and associated ones left out."""
    custom: list[str] = []
    standard: list[str] = []
    for entry in entries:
        name = str(entry.get("name") or "")
        if not name or entry.get("deprecatedAndHidden") or is_associated(entry) or selection.excluded(name):
            continue
        (custom if entry.get("custom") else standard).append(name)
    return sorted(custom), sorted(standard)


def referenced(describes: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every object a field of these describes looks up (audit fields such as CreatedById left out)."""
    names: set[str] = set()
    for describe in describes:
        for raw in describe.get("fields") or ():
            if raw.get("type") == "reference" and str(raw.get("name")) not in AUDIT_FIELDS:
                names.update(str(target) for target in raw.get("referenceTo") or ())
    return names


AUDIT_FIELDS = frozenset({"CreatedById", "LastModifiedById", "OwnerId", "RecordTypeId"})
"""Lookups every object has; documenting them would draw an edge from every object to User."""


def standard_worth_documenting(
    standard: Iterable[str], counts: Mapping[str, int], referenced_by_custom: set[str], selection: Selection
) -> list[str]:
    """The standard objects that hold data, are referenced by a custom object, or are asked for."""
    return sorted(
        name for name in standard if counts.get(name, 0) > 0 or name in referenced_by_custom or selection.included(name)
    )
