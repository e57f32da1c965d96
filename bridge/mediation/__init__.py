"""Trigger mediation: the integration user's hierarchy custom setting that lets system syncs skip Apex handlers."""

from bridge.mediation.bypass import (
    Change,
    Flag,
    Level,
    MediationStatus,
    SettingRecord,
    TriggerRow,
    TriggerState,
    TriggerStatus,
    UserRef,
    plan_change,
    resolve_flags,
    trigger_statuses,
)
from bridge.mediation.check import bypass_check, bypass_warnings
from bridge.mediation.errors import MediationError, UserNotFound
from bridge.mediation.groups import TriggerGroups, TriggerMap, load_trigger_map, parse_trigger_map
from bridge.mediation.service import Mediation, SetupClient

__all__ = [
    "Change",
    "Flag",
    "Level",
    "Mediation",
    "MediationError",
    "MediationStatus",
    "SettingRecord",
    "SetupClient",
    "TriggerGroups",
    "TriggerMap",
    "TriggerRow",
    "TriggerState",
    "TriggerStatus",
    "UserNotFound",
    "UserRef",
    "bypass_check",
    "bypass_warnings",
    "load_trigger_map",
    "parse_trigger_map",
    "plan_change",
    "resolve_flags",
    "trigger_statuses",
]
