"""Org behaviour: triggers (CPU limit, bypass by custom setting, roll-up cascade, depth) and validation rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bridge.emulator import Org, load_profile
from bridge.emulator.profile import SideEffect, TriggerSpec

pytestmark = pytest.mark.timeout(30)

CPU_ERROR_TAIL = "caused by: System.LimitException: Apex CPU time limit exceeded\n\n(System Code)"


def accounts(n: int, prefix: str = "A") -> list[dict[str, Any]]:
    return [{"External_Id__c": f"{prefix}-{i}", "Name": f"Account {i}"} for i in range(n)]


def set_bypass(org: Org, username: str, **flags: bool) -> None:
    user = org.user(username)
    [setting] = [r for r in org.rows("Integration_Bypass__c") if r["SetupOwnerId"] == user.id] or [None]
    if setting is None:
        org.insert_many("Integration_Bypass__c", [{"SetupOwnerId": user.id, **flags}])
    else:
        result = org.update_many("Integration_Bypass__c", [{"Id": setting["Id"], **flags}])
        assert result[0]["success"], result


def test_cpu_limit_fails_a_full_batch_without_bypass() -> None:
    org = Org()
    set_bypass(org, "integration@emulator.example", All__c=False, Account_Triggers__c=False)
    results = org.upsert_many("Account", "External_Id__c", accounts(200), all_or_none=False)
    assert {r["success"] for r in results} == {False}
    error = results[0]["errors"][0]
    assert error["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert error["message"].startswith("AccountTrigger: execution of ")
    assert error["message"].endswith(CPU_ERROR_TAIL)
    assert org.count("Account") == 0
    assert org.feed.count("/data/AccountChangeEvent") == 0


def test_bypass_on_for_the_integration_user_keeps_cpu_low() -> None:
    org = Org()  # the default profile sets the integration user's bypass flags
    results = org.upsert_many("Account", "External_Id__c", accounts(200))
    assert all(r["success"] for r in results)
    assert org.count("Account") == 200


def test_group_flag_alone_bypasses_its_triggers() -> None:
    org = Org()
    set_bypass(org, "integration@emulator.example", All__c=False, Account_Triggers__c=True)
    assert all(r["success"] for r in org.upsert_many("Account", "External_Id__c", accounts(200)))


def test_human_user_still_fires_bypassable_triggers() -> None:
    org = Org()
    results = org.upsert_many("Account", "External_Id__c", accounts(200), user="alice@emulator.example")
    assert results[0]["errors"][0]["statusCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    small = org.upsert_many("Account", "External_Id__c", accounts(100), user="alice@emulator.example")
    assert all(r["success"] for r in small)


def test_org_default_applies_when_the_user_has_no_record() -> None:
    org = Org()
    [default] = [r for r in org.rows("Integration_Bypass__c") if r["SetupOwnerId"] == org.profile.org_id]
    org.update_many("Integration_Bypass__c", [{"Id": default["Id"], "All__c": True}])
    results = org.upsert_many("Account", "External_Id__c", accounts(200), user="alice@emulator.example")
    assert all(r["success"] for r in results)
    assert org.bypass_for(org.user("alice@emulator.example"))["All__c"] is True


def test_rollup_updates_the_parent_and_fires_its_triggers() -> None:
    org = Org()
    [parent] = org.upsert_many("Account", "External_Id__c", accounts(1))
    opps = [
        {
            "External_Id__c": f"O-{i}",
            "Name": "Deal",
            "StageName": "Proposal",
            "CloseDate": "2026-02-01",
            "Amount": 100 + i,
            "AccountId": parent["id"],
        }
        for i in range(3)
    ]
    assert all(r["success"] for r in org.upsert_many("Opportunity", "External_Id__c", opps))
    assert org.get("Account", parent["id"])["Total_Opportunity_Amount__c"] == 303.0
    org.delete_many([org.by_external_id("Opportunity", "External_Id__c", "O-0")["Id"]])
    assert org.get("Account", parent["id"])["Total_Opportunity_Amount__c"] == 203.0


def test_cascade_cpu_counts_towards_the_same_transaction() -> None:
    org = Org()
    parents = org.upsert_many("Account", "External_Id__c", accounts(170))
    set_bypass(
        org, "integration@emulator.example", All__c=False, Account_Triggers__c=False, Opportunity_Triggers__c=True
    )
    opps = [
        {
            "External_Id__c": f"O-{i}",
            "Name": "Deal",
            "StageName": "Proposal",
            "CloseDate": "2026-02-01",
            "Amount": 1,
            "AccountId": p["id"],
        }
        for i, p in enumerate(parents)
    ]
    # 170 * 5 ms of roll-up, then 170 parent updates * (30 + 30 + 1) ms of Account triggers: over 10 s in all.
    results = org.upsert_many("Opportunity", "External_Id__c", opps)
    assert "AccountTrigger" in results[0]["errors"][0]["message"]
    assert org.count("Opportunity") == 0


def test_recursion_past_depth_16_fails() -> None:
    profile = load_profile()
    looping = TriggerSpec(
        "ContactLoop", "Contact", ("after update",), 0.1, essential=True, side_effects=(SideEffect("touch_self"),)
    )
    org = Org(replace(profile, triggers=(*profile.triggers, looping)))
    [contact] = org.insert_many("Contact", [{"LastName": "Loop"}])
    [result] = org.update_many("Contact", [{"Id": contact["id"], "Title": "CEO"}])
    assert result["errors"][0]["message"].startswith("ContactLoop: execution of AfterUpdate")
    assert "maximum trigger depth exceeded" in result["errors"][0]["message"]
    assert org.get("Contact", contact["id"])["Title"] is None


@pytest.mark.parametrize(
    ("sobject", "record", "message"),
    [
        ("Account", {"Name": "A", "Phone": "call me"}, "Phone may contain only digits"),
        ("Account", {"Name": "A", "Website": "not a site"}, "Website must be a host name"),
        ("Account", {"Name": "A", "NumberOfEmployees": -1}, "Employees must be between"),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Closed Won", "CloseDate": "2026-01-01"},
            "A won opportunity needs an amount.",
        ),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Proposal", "CloseDate": "2026-01-01", "Probability": 120},
            "Probability must be between 0 and 100.",
        ),
        ("Contact", {"LastName": "L", "Email": "a@b"}, None),
        ("Invoice__c", {"Name": "I", "Invoice_Number__c": "123", "Amount__c": 5}, "Invoice numbers look like"),
        (
            "Invoice__c",
            {"Name": "I", "Invoice_Number__c": "INV-000001", "Amount__c": 0},
            "An invoice amount must be positive.",
        ),
    ],
)
def test_validation_rules(sobject: str, record: dict[str, Any], message: str | None) -> None:
    org = Org()
    [result] = org.insert_many(sobject, [record])
    assert not result["success"]
    error = result["errors"][0]
    if message is None:  # the field check answers before the rule does
        assert error["statusCode"] == "INVALID_EMAIL_ADDRESS"
    else:
        assert error["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        assert error["message"].startswith(message)
    assert org.rules.unevaluable == {}


def test_prior_value_rule_on_update() -> None:
    org = Org()
    [won] = org.insert_many(
        "Opportunity", [{"Name": "O", "StageName": "Closed Won", "CloseDate": "2026-01-01", "Amount": 5}]
    )
    [reopen] = org.update_many("Opportunity", [{"Id": won["id"], "StageName": "Proposal"}])
    assert reopen["errors"][0]["message"] == "A closed opportunity cannot change stage."
    assert reopen["errors"][0]["fields"] == ["StageName"]


def test_setup_merge_field_lets_the_integration_user_skip_a_rule() -> None:
    org = Org()
    record = {"Name": "A", "Type": "Other"}
    assert org.insert_many("Account", [record])[0]["success"]
    human = org.insert_many("Account", [record], user="alice@emulator.example")[0]
    assert human["errors"][0]["message"] == "Describe the account when its type is Other."


def test_bypass_hierarchy_user_over_profile_over_org() -> None:
    org = Org()
    alice = org.user("alice@emulator.example")
    [profile_level] = org.insert_many(
        "Integration_Bypass__c", [{"SetupOwnerId": alice.profile_id, "All__c": True, "Name": "Sales profile"}]
    )
    assert profile_level["success"]
    assert org.bypass_for(alice)["All__c"] is True
    [user_level] = org.insert_many("Integration_Bypass__c", [{"SetupOwnerId": alice.id, "All__c": False}])
    assert user_level["success"]
    assert org.bypass_for(alice)["All__c"] is False
    [second] = org.insert_many("Integration_Bypass__c", [{"SetupOwnerId": alice.id, "All__c": True}])
    assert second["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
