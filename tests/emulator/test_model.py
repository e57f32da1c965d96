"""The emulator's data model: ids, the profile file, the indexed store, describe and Tooling rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.emulator import Org, load_profile
from bridge.emulator.ids import case_safe_suffix, make_id, normalize_id
from bridge.emulator.profile import ObjectSpec, ProfileError
from bridge.emulator.store import RecordStore


def test_case_safe_suffix_matches_salesforce() -> None:
    # A documented id pair: the 15-character id and its 18-character form.
    assert normalize_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert case_safe_suffix("003000000000000") == "AAA"


@pytest.mark.parametrize("value", ["001A0000006Vm9rXXX", "001", "001A0000006Vm9r!", "001A0000006Vm9rIACX"])
def test_malformed_ids(value: str) -> None:
    assert normalize_id(value) is None


def test_made_ids_are_valid_and_distinct() -> None:
    ids = {make_id("001", n) for n in range(1, 5000)}
    assert len(ids) == 4999
    assert all(normalize_id(i) == i for i in ids)


def test_default_profile_models_an_enterprise_org() -> None:
    profile = load_profile("default")
    assert {"Account", "Opportunity", "Contact", "Invoice__c", "Integration_Bypass__c"} <= set(profile.objects)
    assert 10 <= len(profile.validation_rules) <= 14
    assert sum("REGEX" in r.formula for r in profile.validation_rules) >= 3
    assert 4 <= len(profile.triggers) <= 5
    assert any(t.essential for t in profile.triggers)
    assert any(e.kind == "rollup" for t in profile.triggers for e in t.side_effects)
    account = profile.objects["Account"]
    assert account.field("external_id__c") is account.fields["External_Id__c"]
    assert account.fields["Type"].restricted
    assert profile.user("integration@emulator.example") is not None


def _store() -> tuple[RecordStore, ObjectSpec]:
    spec = load_profile().objects["Account"]
    return RecordStore([spec]), spec


def test_store_indexes_external_ids_case_insensitively_and_restores() -> None:
    store, _ = _store()
    first = {"Id": make_id("001", 1), "External_Id__c": "Abc", "IsDeleted": False}
    assert store.put("Account", first) is None
    assert store.find("Account", "External_Id__c", "aBC") == [first["Id"]]
    changed = {**first, "External_Id__c": "Other"}
    before = store.put("Account", changed)
    assert store.find("Account", "External_Id__c", "abc") == []
    store.restore("Account", first["Id"], before)
    assert store.find("Account", "External_Id__c", "ABC") == [first["Id"]]
    store.restore("Account", first["Id"], None)
    assert store.get("Account", first["Id"]) is None


def test_deleted_rows_leave_the_indexes_but_stay_readable() -> None:
    store, _ = _store()
    row = {"Id": make_id("001", 1), "External_Id__c": "X", "IsDeleted": True}
    store.put("Account", row)
    assert store.find("Account", "External_Id__c", "X") == []
    assert list(store.rows("Account")) == []
    assert list(store.rows("Account", include_deleted=True)) == [row]


def test_rows_for_the_query_engine() -> None:
    org = Org()
    [created] = org.insert_many("Account", [{"Name": "Row"}])
    [row] = org.rows("Account")
    assert row["Id"] == created["id"]
    assert {"IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"} <= set(row)
    org.delete_many([created["id"]])
    assert list(org.rows("Account")) == []
    assert [r["IsDeleted"] for r in org.rows("Account", include_deleted=True)] == [True]
    assert list(org.rows("Nope")) == []


def test_describe_has_every_documented_field_key() -> None:
    describe = Org().describe("account")
    assert describe is not None
    keys = set(describe["fields"][0])
    assert {
        "name",
        "type",
        "soapType",
        "length",
        "nillable",
        "externalId",
        "unique",
        "picklistValues",
        "restrictedPicklist",
        "referenceTo",
        "relationshipName",
        "calculatedFormula",
        "idLookup",
    } <= keys
    assert describe["keyPrefix"] == "001"
    assert Org().describe("Nope") is None


def test_tooling_rows() -> None:
    org = Org()
    rules = org.tooling_rows("ValidationRule")
    assert len(rules) == len(org.profile.validation_rules)
    assert rules[0]["Metadata"]["errorConditionFormula"] == org.profile.validation_rules[0].formula
    assert rules[0]["EntityDefinition"]["QualifiedApiName"] == "Account"
    triggers = {t["Name"]: t for t in org.tooling_rows("ApexTrigger")}
    assert "Integration_Bypass__c.getInstance().Account_Triggers__c" in triggers["AccountTrigger"]["Body"]
    assert "getInstance" not in triggers["OpportunityRollupTrigger"]["Body"]
    assert triggers["AccountTrigger"]["UsageBeforeInsert"] is True
    assert triggers["AccountTrigger"]["UsageAfterDelete"] is False
    custom = {o["DeveloperName"] for o in org.tooling_rows("CustomObject")}
    assert {"Invoice", "Integration_Bypass"} <= custom
    fields = {f["FullName"] for f in org.tooling_rows("CustomField")}
    assert "Account.External_Id__c" in fields
    assert org.tooling_rows("Nope") == []


@pytest.mark.parametrize(("content", "expected"), [(b"{nope", "cannot read"), (b'{"objects": []}', "shape")])
def test_bad_profile_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "org.json"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=expected):
        load_profile(path)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.json")
