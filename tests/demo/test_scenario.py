"""The nightly scenario: deterministic, with the promised shares of invalid, redelivered and out-of-order events."""

from __future__ import annotations

from collections import Counter

from bridge.demo.scenario import BY_CRM, PRE_VALIDATION, nightly_scenario


def test_the_same_seed_gives_the_same_events() -> None:
    first = nightly_scenario(accounts=500, opportunities=200, seed=3)
    second = nightly_scenario(accounts=500, opportunities=200, seed=3)
    other = nightly_scenario(accounts=500, opportunities=200, seed=4)
    assert first.events == second.events
    assert first.events != other.events


def test_shares_of_faults_are_close_to_the_requested_ones() -> None:
    scenario = nightly_scenario(accounts=20_000, opportunities=6_000)
    records = 26_000
    assert 0.02 < len(scenario.must_reject) / records < 0.04
    assert 0.04 < scenario.duplicates / len(scenario.events) < 0.06
    assert 0.005 < scenario.stale / records < 0.015
    caught = Counter(r.caught for r in scenario.must_reject.values())
    assert caught[PRE_VALIDATION] > 0
    assert caught[BY_CRM] > 0
    assert 0.004 < len(scenario.deleted) / 20_000 < 0.012  # ~1% of the customers without deals
    assert len(scenario.expected) + len(scenario.must_reject) + len(scenario.deleted) == records


def test_deleted_customers_are_deleted_last_and_some_get_a_stale_upsert_after() -> None:
    scenario = nightly_scenario(accounts=3_000, opportunities=600, duplicate_share=0)
    deletes = [e for e in scenario.events if e.type == "com.acme.crm.customer.deleted"]
    assert {("Account", str(e.externalid)) for e in deletes} == scenario.deleted
    position = {e.id: i for i, e in enumerate(scenario.events)}
    for delete in deletes:
        upserts = [e for e in scenario.events if e.externalid == delete.externalid and e.id != delete.id]
        before = [e for e in upserts if position[e.id] < position[delete.id]]
        assert before
        assert all(e.data["version"] < delete.data["version"] for e in upserts)
        assert all(e.id in scenario.stale_ids for e in upserts if position[e.id] > position[delete.id])
    late = [e for e in scenario.events if e.id in scenario.stale_ids and ("Account", e.externalid) in scenario.deleted]
    assert late  # the resurrection attempts the checker must see fail


def test_redeliveries_repeat_an_earlier_event_exactly() -> None:
    scenario = nightly_scenario(accounts=2_000, opportunities=600)
    seen: dict[str, object] = {}
    repeats = 0
    for event in scenario.events:
        if event.id in seen:
            assert seen[event.id] == event
            repeats += 1
        seen[event.id] = event
    assert repeats == scenario.duplicates


def test_an_out_of_order_record_publishes_its_newer_version_first_and_expects_it() -> None:
    scenario = nightly_scenario(
        accounts=3_000, opportunities=1_000, out_of_order_share=0.05, duplicate_share=0, delete_share=0
    )
    by_key: dict[str, list[int]] = {}
    for event in scenario.events:
        assert event.externalid is not None
        assert event.sequence is not None
        by_key.setdefault(event.externalid, []).append(event.sequence)
    reordered = {key: seqs for key, seqs in by_key.items() if len(seqs) > 1}
    assert len(reordered) == scenario.stale > 0
    checked = 0
    for key, sequences in reordered.items():
        assert sequences[0] == sequences[1] + 1
        sobject = "Account" if "-C" in key else "Opportunity"
        if (sobject, key) in scenario.expected:  # absent: a deal whose customer was refused
            assert scenario.expected[(sobject, key)]["Name"].endswith("(renamed)")
            checked += 1
    assert checked > 0.9 * len(reordered)


def test_deals_of_refused_customers_must_be_refused_by_the_crm() -> None:
    scenario = nightly_scenario(accounts=3_000, opportunities=3_000, duplicate_share=0)
    refused = {e.externalid for e in scenario.events if e.id in scenario.must_reject and e.sobject == "Account"}
    orphans = [e for e in scenario.events if e.sobject == "Opportunity" and e.data["customer_id"] in refused]
    assert orphans
    for event in orphans:
        assert ("Opportunity", event.externalid) not in scenario.expected
        if event.id not in scenario.stale_ids:
            assert event.id in scenario.must_reject


def test_rejected_records_are_not_expected_in_the_org() -> None:
    scenario = nightly_scenario(accounts=2_000, opportunities=1_000)
    rejected_keys = {e.externalid for e in scenario.events if e.id in scenario.must_reject}
    assert not rejected_keys & {key for _, key in scenario.expected}
