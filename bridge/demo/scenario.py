"""The nightly-sync scenario: deterministic accounts and opportunities with the faults a real feed carries.

    scenario = nightly_scenario(accounts=42_000, opportunities=12_200)
    scenario.events          # publish order: redelivered duplicates and out-of-order versions included
    scenario.expected        # (sobject, external id) → the field values Salesforce must end up with
    scenario.must_reject     # event id → why the bridge must dead-letter it (before the CRM, or by the CRM)

About `invalid_share` of the records break one of the org's validation rules in a way the bridge can see before
calling Salesforce (a phone with letters, a website that is not a host name, a won deal without an amount), or
only Salesforce can see (a deal whose customer never existed); a valid deal of a refused customer is refused by
the sink without a call (`parent_refused`). `duplicate_share` of the events are delivered a
second time (same event id), and `out_of_order_share` of the records get a newer version published before an
older one, which must be dropped as stale. `delete_share` of the customers without deals are deleted at the end
(`customer.deleted`, a newer version), and half of those get their old upsert delivered again after the delete:
it must be dropped as stale, not bring the Account back (`deleted`). Everything depends only on the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bridge.events.envelope import CloudEvent
from bridge.types import Lane

CUSTOMER_TYPE = "com.acme.crm.customer.upserted"
DEAL_TYPE = "com.acme.crm.deal.upserted"
CUSTOMER_DELETED_TYPE = "com.acme.crm.customer.deleted"
SOURCE = "erp://acme-nightly"
ACCOUNT_ID_FIELD = "ERP_Customer_Id__c"
DEAL_ID_FIELD = "ERP_Deal_Id__c"

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_INDUSTRIES = ("Manufacturing", "Retail", "Banking", "Healthcare", "Technology", "Energy", None)
_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won")
_CITIES = (("Zürich", "ZH", "CH"), ("München", "BY", "DE"), ("Lyon", "ARA", "FR"), ("Austin", "TX", "US"))
_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent")

PRE_VALIDATION = "pre_validation"
BY_CRM = "by_crm"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event must end on the DLQ, and who must catch it."""

    caught: str  # PRE_VALIDATION or BY_CRM
    rule: str


@dataclass(slots=True)
class Scenario:
    """Events in publish order, and what the org must look like afterwards."""

    events: list[CloudEvent] = field(default_factory=list)
    expected: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    must_reject: dict[str, Rejection] = field(default_factory=dict)
    stale_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    deleted: set[tuple[str, str]] = field(default_factory=set)  # (sobject, external id) deleted at the source

    @property
    def stale(self) -> int:
        """Records that had an older version published after a newer one."""
        return len(self.stale_ids)

    @property
    def distinct_ids(self) -> set[str]:
        """Every event id published (a redelivery repeats its original's id)."""
        return {event.id for event in self.events}


def nightly_scenario(
    *,
    accounts: int = 42_000,
    opportunities: int = 12_200,
    invalid_share: float = 0.03,
    duplicate_share: float = 0.05,
    out_of_order_share: float = 0.01,
    delete_share: float = 0.01,
    seed: int = 42,
    run_id: str = "nightly",
) -> Scenario:
    """The scenario; the same arguments always give the same events."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    builder = _Builder(rng, run_id, invalid_share, out_of_order_share)
    per_account = max(1, accounts // max(1, opportunities)) if opportunities else accounts
    deal = 0
    for number in range(1, accounts + 1):
        builder.customer(number)
        # Deals follow their customers closely; a few arrive before the customer (the sink makes them wait).
        while opportunities and deal < opportunities and deal * per_account < number:
            deal += 1
            ahead = 5 if rng.random() < 0.02 else 0
            builder.deal(deal, rng.randint(max(1, number - 50), min(accounts, number + ahead)))
    while deal < opportunities:
        deal += 1
        builder.deal(deal, rng.randint(1, max(1, accounts)))
    return builder.finish(duplicate_share, delete_share)


class _Builder:
    def __init__(self, rng: random.Random, run_id: str, invalid_share: float, out_of_order_share: float) -> None:
        self.rng = rng
        self.run_id = run_id
        self.invalid_share = invalid_share
        self.out_of_order_share = out_of_order_share
        self.scenario = Scenario()
        self._sequence = 0
        self._rejected_customers: set[str] = set()
        self._customer_data: dict[str, dict[str, Any]] = {}

    def _event(self, kind: _Kind, ext_id: str, data: dict[str, Any]) -> CloudEvent:
        self._sequence += 1
        at = (_EPOCH + timedelta(seconds=self._sequence)).isoformat().replace("+00:00", "Z")
        data["updated_at"] = at
        return CloudEvent(
            id=f"{self.run_id}-{self._sequence:08d}",
            source=SOURCE,
            type=kind.event_type,
            data=data,
            time=at,
            sobject=kind.sobject,
            externalid=ext_id,
            extidfield=kind.external_id_field,
            sequence=int(data["version"]),
            lane=Lane.BULK,
        )

    def customer(self, number: int) -> None:
        ext_id = f"{self.run_id}-C{number:07d}"
        data = _customer(self.rng, ext_id, number)
        rejection = None
        if self.rng.random() < self.invalid_share:
            rejection, data = self._break_customer(data)
            self._rejected_customers.add(ext_id)
        self._emit(_CUSTOMER, ext_id, data, rejection)

    def deal(self, number: int, customer: int) -> None:
        ext_id = f"{self.run_id}-D{number:07d}"
        data = _deal(self.rng, ext_id, f"{self.run_id}-C{customer:07d}", number)
        rejection = None
        roll = self.rng.random()
        if roll < self.invalid_share * 0.25:
            rejection = Rejection(BY_CRM, "parent_not_found")
            data["customer_id"] = f"{self.run_id}-GONE{number:07d}"
        elif roll < self.invalid_share:
            rejection = Rejection(PRE_VALIDATION, "Opportunity_Closed_Won_Needs_Amount")
            data |= {"stage": "Closed Won", "amount": None}
        self._emit(_DEAL, ext_id, data, rejection)

    def _orphan_deals_of_rejected_customers(self) -> None:
        """A valid deal of a customer that was refused cannot be written either: the sink dead-letters it at once,
        naming its refused parent (the processor's refusal notice reaches the sink before the deal)."""
        scenario = self.scenario
        for event in scenario.events:
            orphan = event.type == DEAL_TYPE and event.data["customer_id"] in self._rejected_customers
            if not orphan or event.id in scenario.must_reject or event.id in scenario.stale_ids:
                continue
            scenario.must_reject[event.id] = Rejection(BY_CRM, "parent_refused")
            scenario.expected.pop(("Opportunity", str(event.externalid)), None)

    def _break_customer(self, data: dict[str, Any]) -> tuple[Rejection, dict[str, Any]]:
        if self.rng.random() < 0.5:
            return Rejection(PRE_VALIDATION, "Account_Phone_Format"), data | {"phone": "ask for Bob"}
        return Rejection(PRE_VALIDATION, "Account_Website_Format"), data | {"website": "not a website"}

    def _emit(self, kind: _Kind, ext_id: str, data: dict[str, Any], rejection: Rejection | None) -> None:
        if rejection is None and self.rng.random() < self.out_of_order_share:
            newer = data | {"version": data["version"] + 1, "name": data["name"] + " (renamed)"}
            self.scenario.events.append(self._event(kind, ext_id, newer))
            older = self._event(kind, ext_id, dict(data))
            self.scenario.events.append(older)
            self.scenario.stale_ids.add(older.id)
            data = newer
        else:
            event = self._event(kind, ext_id, data)
            self.scenario.events.append(event)
            if rejection is not None:
                self.scenario.must_reject[event.id] = rejection
        if rejection is None:
            self.scenario.expected[(kind.sobject, ext_id)] = kind.expected_fields(data)
            if kind is _CUSTOMER:
                self._customer_data[ext_id] = data

    def _delete_customers(self, share: float) -> None:
        """Delete `share` of the written customers that no deal references; half of them then get their last
        upsert redelivered as a new event (a late replica): stale, it must not resurrect the Account."""
        scenario = self.scenario
        referenced = {e.data["customer_id"] for e in scenario.events if e.type == DEAL_TYPE}
        for ext_id, data in self._customer_data.items():
            if ext_id in referenced or self.rng.random() >= share:
                continue
            delete = {"customer_id": ext_id, "version": data["version"] + 1}
            scenario.events.append(self._event(_CUSTOMER_DELETED, ext_id, delete))
            scenario.expected.pop((_CUSTOMER.sobject, ext_id), None)
            scenario.deleted.add((_CUSTOMER.sobject, ext_id))
            if self.rng.random() < 0.5:
                late = self._event(_CUSTOMER, ext_id, dict(data))
                scenario.events.append(late)
                scenario.stale_ids.add(late.id)

    def finish(self, duplicate_share: float, delete_share: float = 0.0) -> Scenario:
        self._orphan_deals_of_rejected_customers()
        self._delete_customers(delete_share)
        events = self.scenario.events
        later: dict[int, list[CloudEvent]] = {}
        for index, event in enumerate(events):  # a redelivery comes some time after the original
            if self.rng.random() < duplicate_share:
                later.setdefault(min(len(events) - 1, index + self.rng.randint(1, 500)), []).append(event)
        self.scenario.events = [e for index, event in enumerate(events) for e in (event, *later.get(index, ()))]
        self.scenario.duplicates = sum(len(v) for v in later.values())
        return self.scenario


def _customer(rng: random.Random, ext_id: str, number: int) -> dict[str, Any]:
    city, _, country = rng.choice(_CITIES)
    name = f"{rng.choice(_NAMES)} {rng.choice(('GmbH', 'AG', 'Inc.', 'SA', 'Ltd'))} #{number}"
    return {
        "customer_id": ext_id,
        "version": rng.randint(1, 5),
        "name": name,
        "phone": f"+41 44 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "website": f"https://www.{name.split(maxsplit=1)[0].lower()}{number}.example.com",
        "industry": rng.choice(_INDUSTRIES),
        "annual_revenue": rng.randint(100_000, 500_000_000),
        "employees": rng.randint(1, 50_000),
        "segment": rng.choice(("enterprise", "mid_market", "smb")),
        "billing_address": {"street": f"{rng.randint(1, 200)} Main Street", "city": city, "country": country},
    }


def _deal(rng: random.Random, ext_id: str, customer_id: str, number: int) -> dict[str, Any]:
    close = date(2026, 1, 1) + timedelta(days=rng.randint(0, 365))
    return {
        "deal_id": ext_id,
        "customer_id": customer_id,
        "version": rng.randint(1, 9),
        "name": f"Deal {number} ({rng.choice(('renewal', 'upsell', 'new business'))})",
        "stage": rng.choice(_STAGES),
        "amount": round(rng.uniform(500, 2e6), 2),
        "currency": rng.choice(("CHF", "EUR", "USD")),
        "close_date": close.isoformat(),
        "probability": rng.choice((10, 20, 50, 75, 90, 100)),
    }


def _account_fields(data: dict[str, Any]) -> dict[str, Any]:
    address = data["billing_address"]
    return {
        "Name": data["name"],
        "Phone": data["phone"],
        "Website": data["website"],
        "Industry": data["industry"],
        "AnnualRevenue": data["annual_revenue"],
        "NumberOfEmployees": data["employees"],
        "BillingCity": address["city"],
        "BillingCountry": address["country"],
    }


def _opportunity_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": data["name"],
        "StageName": data["stage"],
        "Amount": data["amount"],
        "CloseDate": data["close_date"],
        "Probability": data["probability"],
        "_parent": data["customer_id"],
    }


@dataclass(frozen=True, slots=True)
class _Kind:
    event_type: str
    sobject: str
    external_id_field: str
    expected_fields: Callable[[dict[str, Any]], dict[str, Any]]


_CUSTOMER = _Kind(CUSTOMER_TYPE, "Account", ACCOUNT_ID_FIELD, _account_fields)
_DEAL = _Kind(DEAL_TYPE, "Opportunity", DEAL_ID_FIELD, _opportunity_fields)
_CUSTOMER_DELETED = _Kind(CUSTOMER_DELETED_TYPE, "Account", ACCOUNT_ID_FIELD, lambda data: {})
