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
from bridge.catalog.snapshot import parse_snapshot
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

# Every rule of the default profile on the objects under test must be evaluable locally; a rule that is not
# would be listed here with the reason, and the test checks the list is exactly what the validator reports.
EXPECTED_NOT_EVALUABLE: dict[str, str] = {}


class Sides:
    """The emulated org (the judge) and the pre-validator built from what it publishes."""

    def __init__(self, org: Org, validator: Validator) -> None:
        self.org = org
        self.validator = validator

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
    model = parse_snapshot(snapshot)
    compiler = formula_compiler(org.merge_fields(org.user()))
    return Sides(org, Validator(model.objects, compile_rules(model.rules, model.objects, compiler)))


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
)


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
    NumberOfEmployees=_optional(st.sampled_from([-1, 0, 250, 5_000_000, 5_000_001, 2.5, ""])),
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
    if not result.ok:
        assert _first_reason(result.violations[0]) == _emulator_reason(outcome["errors"][0]), (
            fields,
            result.violations,
            outcome["errors"],
        )


def _record(sobject: str, fields: Mapping[str, Any]) -> MappedRecord:
    return MappedRecord(sobject, "External_Id__c", "X-1", fields, Lane.REALTIME, 1)


def _insert(sides: Sides, sobject: str, fields: dict[str, Any]) -> None:
    result = sides.validator.validate(_record(sobject, fields), is_new=True)
    (outcome,) = sides.org.insert_many(sobject, [fields], all_or_none=False, user=sides.org.user())
    _assert_agree(result, outcome, fields)


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(fields=accounts)
def test_account_inserts_agree(sides: Sides, fields: dict[str, Any]) -> None:
    _insert(sides, "Account", fields)


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


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prior=_valid_prior, change=opportunities)
def test_opportunity_updates_agree(sides: Sides, prior: dict[str, Any], change: dict[str, Any]) -> None:
    """ISCHANGED/PRIORVALUE: an update judged over the values the record had before."""
    (created,) = sides.org.insert_many("Opportunity", [prior], user=sides.org.user())
    assert created["success"], created
    result = sides.validator.validate(_record("Opportunity", change), prior=prior, is_new=False)
    body = {"Id": created["id"], **change}
    (outcome,) = sides.org.update_many("Opportunity", [body], all_or_none=False, user=sides.org.user())
    _assert_agree(result, outcome, change)


async def test_every_default_rule_is_evaluated_locally(sides: Sides) -> None:
    """The rules the differential test covers are all compiled; none is skipped without being listed."""
    compiled = {rule.meta.name: rule for rules in sides.validator.rules.values() for rule in rules}
    assert {"Account_Phone_Format", "Opportunity_Closed_Is_Final", "Opportunity_Probability_Range"} <= set(compiled)
    not_compiled = {name: rule.compile_error for name, rule in compiled.items() if rule.check is None}
    assert not_compiled == EXPECTED_NOT_EVALUABLE
