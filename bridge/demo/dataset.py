"""Deterministic customer and deal events for the demo, the tests and the benchmarks.

    events = list(demo_events(20_000))   # the same 20,000 events on every run and every machine

Every fifth event is a customer (Account); the others are deals (Opportunity) of a customer published
earlier, so parents always precede their children. Ids, payloads and timestamps depend only on the index.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bridge.events.envelope import CloudEvent

CUSTOMER_TYPE = "com.acme.crm.customer.upserted"
DEAL_TYPE = "com.acme.crm.deal.upserted"
SOURCE = "erp://acme-demo"

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_INDUSTRIES = ("Manufacturing", "Retail", "Banking", "Healthcare", "Technology", "Energy", None)
_SEGMENTS = ("enterprise", "mid_market", "smb")
_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Closed Won")
_CITIES = (("Zürich", "ZH", "CH"), ("München", "BY", "DE"), ("Lyon", "ARA", "FR"), ("Austin", "TX", "US"))
_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent")


def demo_events(count: int, *, seed: int = 7, run_id: str = "demo") -> Iterator[CloudEvent]:
    """`count` events; the same `seed` and `run_id` always give the same events."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    customers = 0
    for index in range(count):
        at = (_EPOCH + timedelta(seconds=index)).isoformat().replace("+00:00", "Z")
        if index % 5 == 0:
            customers += 1
            data = _customer(rng, run_id, customers, at)
            event_type = CUSTOMER_TYPE
        else:
            data = _deal(rng, run_id, index, rng.randint(1, customers), at)
            event_type = DEAL_TYPE
        yield CloudEvent(id=f"{run_id}-{index:08d}", source=SOURCE, type=event_type, data=data, time=at)


def _customer(rng: random.Random, run_id: str, number: int, at: str) -> dict[str, Any]:
    city, state, country = rng.choice(_CITIES)
    name = f"{rng.choice(_NAMES)} {rng.choice(('GmbH', 'AG', 'Inc.', 'SA', 'Ltd'))} #{number}"
    return {
        "customer_id": f"{run_id}-C{number:07d}",
        "version": 1,
        "name": name,
        "phone": f"+41 44 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "website": f"https://www.{name.split(maxsplit=1)[0].lower()}{number}.example",
        "industry": rng.choice(_INDUSTRIES),
        "annual_revenue": round(rng.uniform(1e5, 5e8), 2),
        "employees": rng.randint(1, 50_000),
        "segment": rng.choice(_SEGMENTS),
        "billing_address": {
            "street": f"{rng.randint(1, 200)} Main Street",
            "city": city,
            "state": state,
            "postal_code": f"{rng.randint(1000, 99999)}",
            "country": country,
        },
        "updated_at": at,
    }


def _deal(rng: random.Random, run_id: str, index: int, customer: int, at: str) -> dict[str, Any]:
    close = date(2026, 1, 1) + timedelta(days=rng.randint(0, 365))
    return {
        "deal_id": f"{run_id}-D{index:08d}",
        "customer_id": f"{run_id}-C{customer:07d}",
        "version": rng.randint(1, 9),
        "name": f"Deal {index} ({rng.choice(('renewal', 'upsell', 'new business'))})",
        "stage": rng.choice(_STAGES),
        "amount": round(rng.uniform(500, 2e6), 2),
        "currency": rng.choice(("CHF", "EUR", "USD")),
        "close_date": close.isoformat(),
        "probability": rng.choice((10, 20, 50, 75, 90, 100)),
        "updated_at": at,
    }
