"""Shared builders for the processor core's tests: a small org (describe shapes) and events."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.processing.mapping import Mappings, default_mappings_dir, load_mappings
from bridge.processing.metadata import SObjectMeta, parse_describe
from bridge.processing.records import InboundEvent


def field(name: str, type_: str = "string", **extra: Any) -> dict[str, Any]:
    """A describe `fields[]` entry with Salesforce's defaults for the keys validation reads."""
    base: dict[str, Any] = {
        "name": name,
        "type": type_,
        "length": 255 if type_ in {"string", "url", "picklist", "phone"} else 0,
        "nillable": True,
        "createable": True,
        "updateable": True,
        "defaultedOnCreate": False,
        "picklistValues": [],
        "restrictedPicklist": False,
        "referenceTo": [],
        "relationshipName": None,
        "externalId": False,
        "precision": 0,
        "scale": 0,
        "calculated": False,
    }
    base.update(extra)
    return base


STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

ACCOUNT_DESCRIBE = {
    "name": "Account",
    "fields": [
        field("Id", "id", length=18, createable=False, updateable=False, nillable=False, defaultedOnCreate=True),
        field("Name", nillable=False),
        field("ERP_Customer_Id__c", length=80, externalId=True),
        field("Phone", "phone", length=40),
        field("Website", "url"),
        field("Industry", "picklist", picklistValues=[{"value": "Retail", "active": True}]),
        field("AnnualRevenue", "currency", precision=18, scale=2),
        field("NumberOfEmployees", "int", digits=8),
        field("BillingStreet", "textarea"),
        field("BillingCity", length=40),
        field("BillingState", length=80),
        field("BillingPostalCode", length=20),
        field("BillingCountry", length=80),
        field(
            "Rating",
            "picklist",
            restrictedPicklist=True,
            picklistValues=[{"value": "Hot"}, {"value": "Cold"}],
        ),
        field("IsActive__c", "boolean", nillable=False, defaultedOnCreate=True),
        field("Contact_Email__c", "email", length=80),
        field("Founded__c", "date"),
    ],
}

OPPORTUNITY_DESCRIBE = {
    "name": "Opportunity",
    "fields": [
        field("Name", length=120, nillable=False),
        field("ERP_Deal_Id__c", length=80, externalId=True),
        field(
            "StageName",
            "picklist",
            nillable=False,
            restrictedPicklist=True,
            picklistValues=[{"value": v} for v in STAGES],
        ),
        field("Amount", "currency", precision=18, scale=2),
        field("CloseDate", "date", nillable=False),
        field("Probability", "percent", precision=3, scale=0),
        field("AccountId", "reference", length=18, referenceTo=["Account"], relationshipName="Account"),
    ],
}


@pytest.fixture
def objects() -> dict[str, SObjectMeta]:
    return {d["name"]: parse_describe(d) for d in (ACCOUNT_DESCRIBE, OPPORTUNITY_DESCRIBE)}


@pytest.fixture
def mappings() -> Mappings:
    return load_mappings(default_mappings_dir())


def customer(customer_id: str = "C-1", version: int = 1, event_id: str = "e-1", **data: Any) -> InboundEvent:
    payload: dict[str, Any] = {"customer_id": customer_id, "version": version, "name": "Acme"}
    payload.update(data)
    return InboundEvent(id=event_id, type="com.acme.crm.customer.upserted", source="erp://test", data=payload)


def deal(deal_id: str = "D-1", version: int = 1, event_id: str = "d-1", **data: Any) -> InboundEvent:
    payload: dict[str, Any] = {
        "deal_id": deal_id,
        "customer_id": "C-1",
        "version": version,
        "name": "Big deal",
        "stage": "Prospecting",
        "close_date": "2026-12-31",
    }
    payload.update(data)
    return InboundEvent(id=event_id, type="com.acme.crm.deal.upserted", source="erp://test", data=payload)
