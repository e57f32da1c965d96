"""The trigger → bypass-flag map: which Integration_Bypass__c checkbox skips which trigger's handlers.

It is data that mirrors the Apex in `salesforce/` (the packaged `trigger_groups.toml`); an org with other
triggers passes its own file.

    trigger_map = load_trigger_map()                  # the packaged map
    trigger_map = load_trigger_map(Path("my.toml"))   # an org's own map
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

DEFAULT_SETTING = "Integration_Bypass__c"
DEFAULT_ALL_FLAG = "All__c"


@dataclass(frozen=True, slots=True)
class TriggerGroups:
    """One trigger: the flags of its bypassable handlers, and whether essential handlers run in it too."""

    trigger: str
    sobject: str
    flags: frozenset[str]
    essential: bool


@dataclass(frozen=True, slots=True)
class TriggerMap:
    """Every trigger on the handler framework, the custom setting's API name and its all-triggers flag."""

    triggers: Mapping[str, TriggerGroups]
    setting: str = DEFAULT_SETTING
    all_flag: str = DEFAULT_ALL_FLAG

    @classmethod
    def of(
        cls, triggers: Iterable[TriggerGroups], *, setting: str = DEFAULT_SETTING, all_flag: str = DEFAULT_ALL_FLAG
    ) -> TriggerMap:
        """Build a map from its triggers."""
        return cls({t.trigger: t for t in triggers}, setting, all_flag)

    @property
    def group_flags(self) -> tuple[str, ...]:
        """Every per-group flag any trigger reads, sorted."""
        return tuple(sorted({flag for t in self.triggers.values() for flag in t.flags}))

    @property
    def flags(self) -> tuple[str, ...]:
        """The all-triggers flag, then every group flag: the checkboxes mediation reads and writes."""
        return (self.all_flag, *self.group_flags)

    def flag_for(self, group: str) -> str:
        """The flag of a group named with or without `__c` (`Rollups` → `Rollups__c`), or `ConfigError`."""
        wanted = group if group.endswith("__c") else f"{group}__c"
        for flag in self.flags:
            if flag.lower() == wanted.lower():
                return flag
        known = ", ".join(f.removesuffix("__c") for f in self.flags)
        raise ConfigError(f"unknown bypass group {group!r}; known groups: {known}")


def _groups(name: str, raw: Mapping[str, Any]) -> TriggerGroups:
    flags = raw.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) and f.endswith("__c") for f in flags):
        raise ConfigError(f"trigger {name}: flags must be a list of field API names ending in __c")
    return TriggerGroups(name, str(raw.get("sobject", "")), frozenset(flags), bool(raw.get("essential", False)))


def parse_trigger_map(raw: Mapping[str, Any]) -> TriggerMap:
    """A `TriggerMap` from the TOML file's parsed form."""
    triggers = raw.get("triggers", {})
    if not isinstance(triggers, Mapping):
        raise ConfigError("[triggers] must be a table of trigger names")
    return TriggerMap.of(
        (_groups(name, spec) for name, spec in triggers.items()),
        setting=str(raw.get("setting", DEFAULT_SETTING)),
        all_flag=str(raw.get("all_flag", DEFAULT_ALL_FLAG)),
    )


def load_trigger_map(path: Path | None = None) -> TriggerMap:
    """The map in `path`, or the packaged one that mirrors `salesforce/`."""
    if path is None:
        text = files("bridge.mediation").joinpath("trigger_groups.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        return parse_trigger_map(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"trigger map {path or 'trigger_groups.toml'}: {exc}") from exc
