"""Deletes through the sink, with the real client against the emulator over a socket and a real broker: Ids found
with one query a batch, deleted with one Collections call, in order with the upserts of their keys, and children
of a deleted parent refused with the reason."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from prometheus_client import CollectorRegistry

from bridge.emulator import Org
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.sink.runner import build_gate
from bridge.types import Operation
from tests.conftest import NewTopicFactory
from tests.sink.harness import account, emulator_client, opportunity, outcomes, produce, run_burst, sink_settings

pytestmark = pytest.mark.kafka


def delete(record: MappedRecord, version: int = 2) -> MappedRecord:
    """The processor's delete of `record`'s key: no fields, on the route of its writes."""
    return dataclasses.replace(
        record, fields={}, version=version, event_ids=(f"del-{record.external_id}",), operation=Operation.DELETE
    )


def calls(metrics: Metrics, kind: str) -> float:
    return metrics.registry.get_sample_value("bridge_salesforce_api_calls_total", {"kind": kind, "outcome": "ok"}) or 0


async def test_deletes_by_external_id_cost_two_calls_a_batch_and_a_delete_of_a_missing_record_is_done(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    accounts = [account(f"A-{n}") for n in range(250)]
    await produce(settings, accounts)
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)
        assert org.count("Account") == 250
        upsert_calls = calls(metrics, "collections")
        doomed = [delete(a) for a in accounts[:230]] + [delete(account("NEVER-1"))]
        await produce(settings, doomed)
        await run_burst(settings, client, metrics, gate=gate)
    assert org.count("Account") == 20
    assert org.by_external_id("Account", "External_Id__c", "A-0") is None
    assert org.by_external_id("Account", "External_Id__c", "A-249") is not None
    in_bin = [r for r in org.rows("Account", include_deleted=True) if r["IsDeleted"]]
    assert len(in_bin) == 230  # deleted to the Recycle Bin, not purged
    out = await outcomes(settings)
    assert out.dead == []
    deleted = {doc["external_id"]: doc for doc in out.results if doc["deleted"]}
    assert set(deleted) == {f"A-{n}" for n in range(230)} | {"NEVER-1"}
    assert deleted["NEVER-1"]["id"] is None  # not in the org: nothing to delete, and nothing lost
    assert deleted["A-0"]["id"] == next(r["Id"] for r in in_bin if r["External_Id__c"] == "A-0")
    # 231 deletes in 2 batches: a query and a delete each.
    assert calls(metrics, "query") == 2
    assert calls(metrics, "collections") - upsert_calls == 2


async def test_an_upsert_after_a_delete_recreates_and_a_refused_delete_is_dead_lettered(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    first, again = account("R-1", name="first"), dataclasses.replace(account("R-1", name="again"), version=3)
    await produce(settings, [first, delete(first), again, account("K-1")])
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)
        live = org.by_external_id("Account", "External_Id__c", "R-1")
        assert live is not None
        assert live["Name"] == "again"  # in the order they were read: upsert, delete, upsert
        assert len([r for r in org.rows("Account", include_deleted=True) if r["External_Id__c"] == "R-1"]) == 2
        org.faults.add("unable_to_lock_row", method="DELETE", count=1)  # transient: retried
        await produce(settings, [delete(account("K-1"))])
        await run_burst(settings, client, metrics, gate=gate)
    assert org.by_external_id("Account", "External_Id__c", "K-1") is None
    out = await outcomes(settings)
    assert out.dead == []
    assert [d["external_id"] for d in out.results if d["deleted"]] == ["R-1", "K-1"]
    retried = metrics.registry.get_sample_value("bridge_retries_total", {"component": "sink", "reason": "transient"})
    assert retried == 1


async def test_a_parent_delete_waits_for_its_earlier_children_and_refuses_later_ones(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    settings = await sink_settings(kafka_bootstrap, new_topic, partitions=1)
    parent = account("P-1")
    early = [opportunity(f"E-{n}", "P-1") for n in range(3)]
    late = [opportunity(f"L-{n}", "P-1") for n in range(2)]
    await produce(settings, [parent, *early, delete(parent), *late])
    org = Org()
    metrics = Metrics.create(CollectorRegistry())
    gate = build_gate(settings, metrics)
    async with emulator_client(org, gate, metrics) as client:
        await run_burst(settings, client, metrics, gate=gate)
    assert org.by_external_id("Account", "External_Id__c", "P-1") is None
    out = await outcomes(settings)
    written = {doc["external_id"] for doc in out.results if not doc["deleted"]}
    assert written == {"P-1", "E-0", "E-1", "E-2"}  # the children read before the delete were written first
    assert [(d.reason, orjson.loads(d.detail)["parent"]) for d in out.dead] == [("parent_deleted", "Account:P-1")] * 2
