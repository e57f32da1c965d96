"""Per-identity rate limits: 429 with Retry-After, nothing sent, other identities unaffected."""

from __future__ import annotations

import orjson
import pytest

from bridge.ingest.grants import AuthType, Grants, Identity
from bridge.ingest.limits import RateLimits, retry_after
from tests.ingest.conftest import BATCH, STRUCTURED, Schemas, TokenFileHandle, customer, running_ingest


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def _identity(name: str = "ERP", rate_per_s: float = 2.0, burst_events: int = 4) -> Identity:
    return Identity(name, AuthType.API_KEY, "00000000", Grants.everything(), rate_per_s, burst_events)


def test_a_bucket_per_identity_with_a_debt_for_a_batch_over_the_burst() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    erp, crm = _identity("ERP"), _identity("CRM")
    assert limits.take(erp, 4) == 0.0  # the burst
    assert limits.take(erp, 1) == pytest.approx(0.5)  # refused: one event at 2/s
    assert limits.take(crm, 4) == 0.0  # another identity has its own bucket
    clock.now_s = 2.0
    assert limits.take(erp, 10) == 0.0  # full again: a batch over the burst goes, leaving a debt of 6
    assert limits.wait_s(erp) == pytest.approx(3.5)  # (1 - (-6)) / 2
    clock.now_s = 5.5
    assert limits.wait_s(erp) == 0.0


def test_a_changed_rate_in_the_token_file_reshapes_the_bucket() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    assert limits.take(_identity(burst_events=4), 4) == 0.0
    assert limits.take(_identity(rate_per_s=100.0, burst_events=100), 1) == pytest.approx(0.01)


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 7.9)] == ["1", "1", "2", "8"]


@pytest.mark.kafka
async def test_an_identity_over_its_rate_gets_429_and_others_do_not(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    token_file.add("NOISY", rate_per_s=0.5, burst_events=3)
    async with running_ingest(bootstrap, schemas, token_file.path) as ingest:
        noisy, erp = token_file.bearer("NOISY"), token_file.bearer("ERP")
        events = orjson.dumps([customer(), customer(), customer()])
        first = await ingest.client.post("/v1/events", content=events, headers=BATCH | noisy)
        second = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED | noisy)
        other = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED | erp)
        assert first.status_code == 202
        assert second.status_code == 429
        assert second.headers["retry-after"] == "2"  # one event at 0.5/s
        assert second.json()["error"] == "rate_limited"
        assert "'NOISY' is over its rate of 0.5 events/s" in second.json()["message"]
        assert other.status_code == 202
        assert await ingest.end_offsets() == 4
