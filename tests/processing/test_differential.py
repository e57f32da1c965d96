"""Differential test: the pre-validator against the emulator's write path on random records (issue 5).

The pre-validator is built exactly as a processor worker builds it, but in-process: describe and the Tooling API
are read from an emulated org through `SalesforceClient`, parsed, and the rules compiled with the formula engine
and the integration user's merge fields. Each generated record then goes to both sides; they must agree on
accept/reject and, when both reject, on the first reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bridge.catalog.fetch import fetch_snapshot
from bridge.catalog.snapshot import OrgModel, parse_snapshot
from bridge.config import SalesforceSettings
from bridge.emulator import Org
from bridge.emulator.app import create_app
from bridge.processing.records import MappedRecord
from bridge.processing.rules import compile_rules, formula_compiler
from bridge.processing.validation import ValidationResult, Validator, Violation
from bridge.salesforce import ClientCredentials, SalesforceClient
from bridge.types import Lane

LOGIN_URL = "https://emulator.test"
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = SecretStr("emulator-client-secret")
INTEGRATION = "integration@emulator.example"  # the connected app's run-as user: $Setup bypasses validation rules
SALES_USER = "alice@emulator.example"  # no bypass: the $Setup rule applies

# Every rule of the default profile on the objects under test must be evaluable locally; a rule that is not
# would be listed here with the reason, and the test checks the list is exactly what the validator reports.
EXPECTED_NOT_EVALUABLE: dict[str, str] = {}


class Sides:
    """The emulated org (the judge) and pre-validators built from what it publishes, one per writing user."""

    def __init__(self, org: Org, model: OrgModel) -> None:
        self.org = org
        self.model = model
        self._validators: dict[str, Validator] = {}

    def validator(self, username: str = INTEGRATION) -> Validator:
        """The pre-validator as a worker running as `username` builds it ($Setup etc. as that user sees them)."""
        if username not in self._validators:
            merge = self.org.merge_fields(self.org.user(username))
            rules = compile_rules(self.model.rules, self.model.objects, formula_compiler(merge))
            self._validators[username] = Validator(self.model.objects, rules)
        return self._validators[username]

    def __repr__(self) -> str:
        return "Sides(emulated org, pre-validator)"


@pytest.fixture(scope="module")
async def sides() -> Sides:
    org = Org()
    settings_ = SalesforceSettings(login_url=LOGIN_URL, auth_flow="client_credentials", client_id=CLIENT_ID)
    auth = ClientCredentials(LOGIN_URL, CLIENT_ID, CLIENT_SECRET)
    transport = httpx.ASGITransport(app=create_app(org))
    async with SalesforceClient(settings_, auth, transport=transport) as client:
        snapshot = await fetch_snapshot(client, ["Account", "Opportunity"])
    return Sides(org, parse_snapshot(snapshot))


# --- record strategies: values on both sides of every field constraint and rule ------------------------------------


def _text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=min_size, max_size=max_size)


_names = st.one_of(st.just(""), _text(1, 12), _text(254, 257))
_phones = st.sampled_from(
    ["+1 (415) 555-0100", "555-0100", "555 01", "+44 20 7946 0958", "415/555/0100", "phone: 555-0100", "1" * 41, ""]
)
_websites = st.sampled_from(
    ["www.example.com", "https://example.org/path", "http://a.io", "example", "ftp://example.com", "exa mple.com"]
)
_account_types = st.sampled_from(["Prospect", "Customer - Direct", "Partner", "Other", "Vendor", "other", ""])
_stages = st.sampled_from(["Prospecting", "Negotiation/Review", "Closed Won", "Closed Lost", "Won", "closed won", ""])
_dates = st.sampled_from(["2026-12-31", "2027-02-28", "2026-02-30", "31/12/2026", "2026-1-5", "20261231", ""])
_money = st.one_of(
    st.integers(-1_000, 1_000_000),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from([10**16, -(10**16), "", True, "lots"]),
    st.sampled_from(["12.5", "-3", "1e3", "1.239", "12,5", "1_000", "NaN", "9" * 20]),  # read as coercion_cases says
)


# Both sides read values of another JSON type ("12.5" for a currency) by one table of cases
# (tests/emulator/coercion_cases.py), checked on each side; a few are generated here too.


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_ABSENT), st.none(), values)


_ABSENT = object()


def _fields(**draws: Any) -> dict[str, Any]:
    return {name: value for name, value in draws.items() if value is not _ABSENT}


accounts = st.builds(
    _fields,
    Name=st.one_of(st.just(_ABSENT), _names),
    Phone=_optional(_phones),
    Website=_optional(_websites),
    Type=_optional(_account_types),
    Description=_optional(st.sampled_from(["", "A reseller"])),
    Industry=_optional(st.sampled_from(["Retail", "Space"])),
    AnnualRevenue=_optional(_money),
    NumberOfEmployees=_optional(st.sampled_from([-1, 0, 250, 5_000_000, 5_000_001, 99_999_999, 100_000_000, 2.5, ""])),
    BillingCity=_optional(_text(38, 41)),
)

opportunities = st.builds(
    _fields,
    Name=st.one_of(st.just(_ABSENT), _text(0, 3), _text(119, 121)),
    StageName=_optional(_stages),
    CloseDate=_optional(_dates),
    Amount=_optional(_money),
    Probability=_optional(st.sampled_from([-5, 0, 10, 100, 100.5, 101, 999, 1000, -1000, ""])),
)


# --- the two verdicts ---------------------------------------------------------------------------------------------


Reason = tuple[str, str | frozenset[str] | None]
# A value of the wrong type: the org's REST API fails deserializing the JSON body (JSON_PARSER_ERROR); the
# validator names it INVALID_TYPE_ON_FIELD_IN_RECORD (the code the SOAP and Bulk APIs use). Same field, same cause.
_SAME_CODE = {"JSON_PARSER_ERROR": "INVALID_TYPE_ON_FIELD_IN_RECORD"}
_MISSING = re.compile(r"Required fields are missing: \[(.*)\]")


def _first_reason(violation: Violation) -> Reason:
    if violation.kind == "rule":
        return ("FIELD_CUSTOM_VALIDATION_EXCEPTION", violation.message)
    missing = _MISSING.fullmatch(violation.message)
    if violation.rule == "REQUIRED_FIELD_MISSING" and missing:
        # The same fields, compared as a set: the validator sorts them, the emulator keeps describe order.
        return (violation.rule, frozenset(missing.group(1).split(", ")))
    return (violation.rule, violation.field)


def _emulator_reason(error: Mapping[str, Any]) -> Reason:
    # sObject Collections results name the code `statusCode` (the single-record REST answer says `errorCode`).
    code = _SAME_CODE.get(error["statusCode"], error["statusCode"])
    if code == "FIELD_CUSTOM_VALIDATION_EXCEPTION":
        return (code, error["message"])
    fields = error.get("fields") or [None]
    if code == "REQUIRED_FIELD_MISSING":
        return (code, frozenset(fields))
    return (code, fields[0])


def _assert_agree(result: ValidationResult, outcome: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    if not any(v.kind == "field" for v in result.violations):
        # Rules over a value of the wrong type (Amount=True) cannot be evaluated, but the field check has already
        # rejected the record then, as the org does before it runs any rule; otherwise every rule must decide.
        reported = {n.rule: n.detail for n in result.not_evaluable}
        assert set(reported) <= set(EXPECTED_NOT_EVALUABLE), reported
    assert result.ok == outcome["success"], (fields, result.violations, outcome["errors"])
    if result.ok:
        return
    ours, theirs = _first_reason(result.violations[0]), _emulator_reason(outcome["errors"][0])
    if theirs[1] is None:
        # Salesforce names no field for some errors (a parent's external ID not found: INVALID_FIELD, fields []).
        ours = (ours[0], None)
    assert ours == theirs, (fields, result.violations, outcome["errors"])


def _record(sobject: str, fields: Mapping[str, Any]) -> MappedRecord:
    return MappedRecord(sobject, "External_Id__c", "X-1", fields, Lane.REALTIME, 1)


def _insert(sides: Sides, sobject: str, fields: dict[str, Any], username: str = INTEGRATION) -> ValidationResult:
    result = sides.validator(username).validate(_record(sobject, fields), is_new=True)
    user = sides.org.user(username)
    (outcome,) = sides.org.insert_many(sobject, [fields], all_or_none=False, user=user)
    _assert_agree(result, outcome, fields)
    return result


def _update(sides: Sides, prior: dict[str, Any], change: dict[str, Any]) -> ValidationResult:
    (created,) = sides.org.insert_many("Opportunity", [prior], user=sides.org.user())
    assert created["success"], created
    result = sides.validator().validate(_record("Opportunity", change), prior=prior, is_new=False)
    body = {"Id": created["id"], **change}
    (outcome,) = sides.org.update_many("Opportunity", [body], all_or_none=False, user=sides.org.user())
    _assert_agree(result, outcome, change)
    return result


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("username", [INTEGRATION, SALES_USER])
@_SETTINGS
@given(fields=accounts)
def test_account_inserts_agree(sides: Sides, username: str, fields: dict[str, Any]) -> None:
    _insert(sides, "Account", fields, username)


@_SETTINGS
@given(fields=opportunities)
def test_opportunity_inserts_agree(sides: Sides, fields: dict[str, Any]) -> None:
    _insert(sides, "Opportunity", fields)


_valid_prior = st.fixed_dictionaries(
    {
        "Name": st.just("Deal"),
        "StageName": st.sampled_from(["Prospecting", "Closed Won", "Closed Lost"]),
        "CloseDate": st.just("2026-12-31"),
        "Amount": st.integers(1, 1000),
        "Probability": st.sampled_from([None, 50]),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prior=_valid_prior, change=opportunities)
def test_opportunity_updates_agree(sides: Sides, prior: dict[str, Any], change: dict[str, Any]) -> None:
    """ISCHANGED/PRIORVALUE: an update judged over the values the record had before."""
    _update(sides, prior, change)


async def test_every_default_rule_is_evaluated_locally(sides: Sides) -> None:
    """Every active rule the profile has on these objects reached the validator compiled; none skipped unlisted."""
    compiled = {rule.meta.name: rule for rules in sides.validator().rules.values() for rule in rules}
    profile_rules = {
        r.name for r in sides.org.profile.validation_rules if r.active and r.sobject in {"Account", "Opportunity"}
    }
    assert set(compiled) == profile_rules
    not_compiled = {name: rule.compile_error for name, rule in compiled.items() if rule.check is None}
    assert not_compiled == EXPECTED_NOT_EVALUABLE


async def test_the_witnesses_cover_every_rule(sides: Sides) -> None:
    """A rule added to the profile without a witness that fires it fails here, not silently."""
    messages = {reason[1] for *_, reason in _INSERT_WITNESSES + _UPDATE_WITNESSES if reason and reason[0] == _RULE}
    profile_messages = {
        r.message for r in sides.org.profile.validation_rules if r.active and r.sobject in {"Account", "Opportunity"}
    }
    assert messages == profile_messages


# --- witnesses: each rule and field constraint decided on both sides at least once -----------------------------------

_DEAL = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
_RULE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"

_INSERT_WITNESSES: list[tuple[str, dict[str, Any], str, Reason | None]] = [
    ("Account", {"Name": "A", "Phone": "+1 (415) 555-0100", "Website": "www.example.com"}, INTEGRATION, None),
    (
        "Account",
        {"Name": "A", "Phone": "phone: 555"},
        INTEGRATION,
        (_RULE, "Phone may contain only digits, spaces, dots, dashes, parentheses and a leading +."),
    ),
    (
        "Account",
        {"Name": "A", "Website": "example"},
        INTEGRATION,
        (_RULE, "Website must be a host name such as www.example.com."),
    ),
    ("Account", {"Name": "A", "AnnualRevenue": -1}, INTEGRATION, (_RULE, "Annual revenue cannot be negative.")),
    (
        "Account",
        {"Name": "A", "NumberOfEmployees": 5_000_001},
        INTEGRATION,
        (_RULE, "Employees must be between 0 and 5,000,000."),
    ),
    ("Account", {"Name": "A", "Type": "Other"}, SALES_USER, (_RULE, "Describe the account when its type is Other.")),
    ("Account", {"Name": "A", "Type": "Other"}, INTEGRATION, None),  # the integration user's $Setup bypass
    ("Account", {"Name": "A", "Type": "Vendor"}, INTEGRATION, ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Type")),
    ("Account", {"Name": "A", "Type": ""}, INTEGRATION, None),
    ("Account", {"Name": "x" * 256}, INTEGRATION, ("STRING_TOO_LONG", "Name")),
    ("Account", {"Phone": "555-0100"}, INTEGRATION, ("REQUIRED_FIELD_MISSING", frozenset({"Name"}))),
    ("Opportunity", {**_DEAL, "Amount": -1}, INTEGRATION, (_RULE, "Amount cannot be negative.")),
    ("Opportunity", {**_DEAL, "StageName": "Closed Won"}, INTEGRATION, (_RULE, "A won opportunity needs an amount.")),
    ("Opportunity", {**_DEAL, "Probability": 101}, INTEGRATION, (_RULE, "Probability must be between 0 and 100.")),
    ("Opportunity", {**_DEAL, "Probability": 1000}, INTEGRATION, ("NUMBER_OUTSIDE_VALID_RANGE", "Probability")),
    ("Opportunity", {**_DEAL, "CloseDate": "20261231"}, INTEGRATION, ("INVALID_TYPE_ON_FIELD_IN_RECORD", "CloseDate")),
    ("Opportunity", {**_DEAL, "Amount": 10, "Probability": 100}, INTEGRATION, None),
]


@pytest.mark.parametrize(("sobject", "fields", "username", "reason"), _INSERT_WITNESSES)
def test_witness_inserts(
    sides: Sides, sobject: str, fields: dict[str, Any], username: str, reason: Reason | None
) -> None:
    """The random tests could agree vacuously; these records pin each rule's verdict on both sides."""
    result = _insert(sides, sobject, fields, username)
    assert (_first_reason(result.violations[0]) if result.violations else None) == reason


_UPDATE_WITNESSES: list[tuple[str, dict[str, Any], Reason | None]] = [
    ("Closed Won", {"StageName": "Prospecting"}, (_RULE, "A closed opportunity cannot change stage.")),
    ("Closed Lost", {"StageName": "Closed Won", "Amount": 5}, (_RULE, "A closed opportunity cannot change stage.")),
    ("Closed Won", {"Amount": 7}, None),
    ("Prospecting", {"StageName": "Closed Lost"}, None),
    ("Prospecting", {"CloseDate": None}, ("REQUIRED_FIELD_MISSING", frozenset({"CloseDate"}))),
]


@pytest.mark.parametrize(("prior_stage", "change", "reason"), _UPDATE_WITNESSES)
def test_witness_updates(sides: Sides, prior_stage: str, change: dict[str, Any], reason: Reason | None) -> None:
    # The prior carries every field a rule reads, as the dedupe state does for keys it has written.
    result = _update(sides, {**_DEAL, "StageName": prior_stage, "Amount": 1, "Probability": None}, change)
    assert (_first_reason(result.violations[0]) if result.violations else None) == reason


@pytest.mark.parametrize(
    ("parent", "reason"),
    [
        ({"Account": {"External_Id__c": "PARENT-1"}}, None),
        ({"Account": {"ERP_Customer_Id__c": "ERP-PARENT-1"}}, None),
        ({"AccountId": "001XYZ"}, ("MALFORMED_ID", "AccountId")),
        ({"Account": {"External_Id__c": ""}}, ("INVALID_FIELD", "Account")),
    ],
)
def test_witness_parents(sides: Sides, parent: dict[str, Any], reason: Reason | None) -> None:
    """A parent by external ID that exists (created first), so the lookup is not what decides; or a bad shape."""
    account = {"Name": "Parent", "External_Id__c": "PARENT-1", "ERP_Customer_Id__c": "ERP-PARENT-1"}
    if sides.org.by_external_id("Account", "External_Id__c", "PARENT-1") is None:
        (created,) = sides.org.insert_many("Account", [account], user=sides.org.user())
        assert created["success"], created
    result = _insert(sides, "Opportunity", {**_DEAL, **parent})
    assert (_first_reason(result.violations[0]) if result.violations else None) == reason
