"""The pure core: hierarchy resolution field by field, trigger states, change plans and doctor warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.mediation import (
    Flag,
    Level,
    Mediation,
    MediationError,
    MediationStatus,
    SettingRecord,
    TriggerGroups,
    TriggerMap,
    TriggerRow,
    TriggerState,
    UserRef,
    bypass_warnings,
    load_trigger_map,
    parse_trigger_map,
    plan_change,
    resolve_flags,
    trigger_statuses,
)
from tests.mediation.fake_org import FakeOrg

USER = UserRef("005000000000001AAA", "integration@example.com", "00e000000000001AAA")
OTHER_USER = "005000000000002AAA"
ORG = "00D000000000001AAA"
FLAGS = ("All__c", "Enrichment__c", "Notifications__c", "Rollups__c")
MAP = TriggerMap.of(
    [
        TriggerGroups("AccountTrigger", "Account", frozenset({"Enrichment__c", "Notifications__c"}), essential=True),
        TriggerGroups("OpportunityRollupTrigger", "Opportunity", frozenset({"Rollups__c"}), essential=False),
    ]
)
TRIGGERS = [
    TriggerRow("OpportunityRollupTrigger", "Opportunity"),
    TriggerRow("AccountTrigger", "Account"),
    TriggerRow("LegacyContactTrigger", "Contact"),
    TriggerRow("OldTrigger", "Account", "Inactive"),
]


def record(owner: str, **flags: bool | None) -> SettingRecord:
    return SettingRecord(f"a0B{owner[-6:]}", owner, flags)


def states(effective_records: list[SettingRecord]) -> dict[str, TriggerState]:
    effective = resolve_flags(effective_records, USER, FLAGS)
    return {t.name: t.state for t in trigger_statuses(TRIGGERS, effective, MAP)}


def test_levels_come_from_the_setup_owner_prefix() -> None:
    assert record(USER.id).level is Level.USER
    assert record(USER.profile_id or "").level is Level.PROFILE
    assert record(ORG).level is Level.ORG


def test_the_most_specific_defined_value_wins_field_by_field() -> None:
    records = [
        record(ORG, All__c=True, Rollups__c=True),
        record(USER.profile_id or "", Rollups__c=False, Enrichment__c=True),
        record(USER.id, All__c=False, Enrichment__c=None),
        record(OTHER_USER, Notifications__c=True),
    ]
    effective = resolve_flags(records, USER, FLAGS)
    assert effective["All__c"] == Flag(value=False, source=Level.USER)
    assert effective["Rollups__c"] == Flag(value=False, source=Level.PROFILE)
    assert effective["Enrichment__c"] == Flag(value=True, source=Level.PROFILE)
    assert effective["Notifications__c"] == Flag(value=False, source=None)


def test_no_records_means_every_trigger_runs() -> None:
    assert states([]) == {
        "AccountTrigger": TriggerState.RUNS,
        "OldTrigger": TriggerState.INACTIVE,
        "LegacyContactTrigger": TriggerState.UNMANAGED,
        "OpportunityRollupTrigger": TriggerState.RUNS,
    }


def test_all_flag_bypasses_every_group_but_essential_handlers_keep_running() -> None:
    found = states([record(USER.id, All__c=True)])
    assert found["OpportunityRollupTrigger"] is TriggerState.BYPASSED
    assert found["AccountTrigger"] is TriggerState.PARTLY_BYPASSED
    assert found["LegacyContactTrigger"] is TriggerState.UNMANAGED


def test_one_group_flag_bypasses_only_its_handlers() -> None:
    effective = resolve_flags([record(USER.id, Notifications__c=True)], USER, FLAGS)
    by_name = {t.name: t for t in trigger_statuses(TRIGGERS, effective, MAP)}
    assert by_name["AccountTrigger"].state is TriggerState.PARTLY_BYPASSED
    assert by_name["AccountTrigger"].bypassed_flags == ("Notifications__c",)
    assert by_name["AccountTrigger"].running_flags == ("Enrichment__c",)
    assert by_name["OpportunityRollupTrigger"].state is TriggerState.RUNS


def test_plan_creates_a_user_record_when_there_is_none() -> None:
    change = plan_change(USER, None, {"All__c": True})
    assert change.record_id is None
    assert change.fields == {"SetupOwnerId": USER.id, "All__c": True}


def test_plan_updates_only_changed_flags_and_is_a_noop_when_nothing_changes() -> None:
    own = record(USER.id, All__c=True, Rollups__c=False)
    change = plan_change(USER, own, {"All__c": True, "Rollups__c": True})
    assert (change.record_id, dict(change.fields)) == (own.id, {"Rollups__c": True})
    assert plan_change(USER, own, {"All__c": True}).is_noop


def status_of(records: list[SettingRecord]) -> MediationStatus:
    effective = resolve_flags(records, USER, FLAGS)
    own = next((r for r in records if r.setup_owner_id == USER.id), None)
    return MediationStatus(USER, own, effective, trigger_statuses(TRIGGERS, effective, MAP))


def test_doctor_warns_when_the_bypass_is_off() -> None:
    (warning,) = bypass_warnings(status_of([]))
    assert "bypass off" in warning
    assert "AccountTrigger, OpportunityRollupTrigger fire on every sync write" in warning
    assert "crm-bridge mediation enable --user integration@example.com" in warning


def test_doctor_is_quiet_when_the_user_bypasses_all() -> None:
    assert bypass_warnings(status_of([record(USER.id, All__c=True)])) == []


def test_doctor_warns_about_an_org_wide_bypass_and_groups_left_on() -> None:
    warnings = bypass_warnings(status_of([record(ORG, Notifications__c=True)]))
    assert any("org default level" in w and "other users" in w for w in warnings)
    assert any("AccountTrigger still runs its Enrichment__c handlers" in w for w in warnings)


def test_packaged_map_names_the_groups_and_resolves_group_names() -> None:
    packaged = load_trigger_map()
    assert packaged.setting == "Integration_Bypass__c"
    assert packaged.flags == FLAGS
    assert packaged.flag_for("rollups") == "Rollups__c"
    assert packaged.flag_for("All__c") == "All__c"
    with pytest.raises(ConfigError, match="known groups: All, Enrichment"):
        packaged.flag_for("Billing")


def test_a_map_file_with_bad_flags_or_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    bad_flags = tmp_path / "flags.toml"
    bad_flags.write_text('[triggers.T]\nsobject = "Account"\nflags = ["Rollups"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="field API names ending in __c"):
        load_trigger_map(bad_flags)
    bad_toml = tmp_path / "broken.toml"
    bad_toml.write_text("[triggers\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_trigger_map(bad_toml)
    with pytest.raises(ConfigError, match=r"\[triggers\] must be a table"):
        parse_trigger_map({"triggers": ["AccountTrigger"]})


def test_mediation_refuses_a_setting_name_it_could_not_put_in_soql() -> None:
    with pytest.raises(MediationError, match="is not an API name"):
        Mediation(FakeOrg([]), TriggerMap.of([], setting="Bypass__c WHERE Id != null"))
