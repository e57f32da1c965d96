"""The adapter against an in-memory org: what it reads, and the create-then-update writes of enable/disable."""

from __future__ import annotations

import pytest

from bridge.mediation import Level, Mediation, TriggerState, UserNotFound, load_trigger_map
from tests.mediation.fake_org import HUMAN, INTEGRATION, ORG_ID, FakeOrg

TRIGGERS = [
    {"Name": "AccountTrigger", "TableEnumOrId": "Account", "Status": "Active"},
    {"Name": "OpportunityTrigger", "TableEnumOrId": "Opportunity", "Status": "Active"},
]


@pytest.fixture
def org() -> FakeOrg:
    return FakeOrg(TRIGGERS)


@pytest.fixture
def mediation(org: FakeOrg) -> Mediation:
    return Mediation(org, load_trigger_map())


async def test_status_without_records_reports_everything_running(mediation: Mediation) -> None:
    status = await mediation.status(INTEGRATION["Username"])
    assert status.user.id == INTEGRATION["Id"]
    assert status.user_record is None
    assert not status.bypass_on
    assert {t.state for t in status.triggers} == {TriggerState.RUNS}


async def test_enable_creates_the_user_record_then_updates_it(org: FakeOrg, mediation: Mediation) -> None:
    status = await mediation.enable(INTEGRATION["Username"])
    assert org.writes == [("create", None, {"SetupOwnerId": INTEGRATION["Id"], "All__c": True})]
    assert status.bypassed == ("AccountTrigger", "OpportunityTrigger")
    assert status.effective["All__c"].source is Level.USER

    status = await mediation.disable(INTEGRATION["Username"], ["All"])
    record_id = org.records[0]["Id"]
    assert org.writes[1] == ("update", record_id, {"All__c": False})
    assert not status.bypass_on
    assert len(org.records) == 1


async def test_enable_a_group_and_disable_everything(org: FakeOrg, mediation: Mediation) -> None:
    status = await mediation.enable(INTEGRATION["Username"], ["rollups"])
    by_name = {t.name: t.state for t in status.triggers}
    assert by_name == {"AccountTrigger": TriggerState.RUNS, "OpportunityTrigger": TriggerState.PARTLY_BYPASSED}
    await mediation.disable(INTEGRATION["Username"])
    assert org.writes[-1][2] == {
        "All__c": False,
        "Enrichment__c": False,
        "Notifications__c": False,
        "Rollups__c": False,
    }


async def test_a_noop_change_writes_nothing(org: FakeOrg, mediation: Mediation) -> None:
    await mediation.enable(INTEGRATION["Username"])
    await mediation.enable(INTEGRATION["Username"])
    assert len(org.writes) == 1


async def test_the_human_user_is_untouched_and_sees_the_org_default(org: FakeOrg, mediation: Mediation) -> None:
    org.records.append({"Id": "a0B000000000000ORG", "SetupOwnerId": ORG_ID, "Notifications__c": True})
    await mediation.enable(INTEGRATION["Username"], ["Rollups"])
    human = await mediation.status(HUMAN["Username"])
    assert human.user_record is None
    assert human.effective["Notifications__c"].source is Level.ORG
    assert not human.effective["Rollups__c"].value


async def test_unknown_and_malformed_users_are_refused(mediation: Mediation) -> None:
    with pytest.raises(UserNotFound, match="no user with the username"):
        await mediation.status("nobody@example.com")
    with pytest.raises(UserNotFound, match="is not a username"):
        await mediation.status("x' OR Username != '")
