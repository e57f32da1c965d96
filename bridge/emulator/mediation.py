"""The emulator's triggers as a trigger map for `crm-bridge mediation` and `crm-bridge doctor` (`--map FILE`).

The emulator's profile gives each bypassable trigger its own flag on the bypass setting, where the Apex in
`salesforce/` groups handlers by purpose; this map lets the bridge's tools read the emulator's setting right.
"""

from __future__ import annotations

from pathlib import Path

from bridge.emulator.profile import Profile
from bridge.mediation import TriggerGroups, TriggerMap


def trigger_map(profile: Profile) -> TriggerMap:
    """One flag per bypassable trigger; essential triggers always run."""
    groups = [
        TriggerGroups(t.name, t.sobject, frozenset({t.bypass_flag} if t.bypass_flag else ()), t.essential)
        for t in profile.triggers
    ]
    return TriggerMap.of(groups, setting=profile.bypass_setting)


def write_trigger_map(mapping: TriggerMap, path: Path) -> Path:
    """`mapping` as the TOML file that `--map` reads."""
    lines = [f'setting = "{mapping.setting}"', f'all_flag = "{mapping.all_flag}"']
    for t in mapping.triggers.values():
        flags = ", ".join(f'"{f}"' for f in sorted(t.flags))
        lines += [f"[triggers.{t.trigger}]", f'sobject = "{t.sobject}"', f"flags = [{flags}]"]
        lines.append(f"essential = {str(t.essential).lower()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
