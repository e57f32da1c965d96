"""The executor against the fake org: culprits isolated, the rest written; failures classified; bulk jobs."""

import asyncio

from prometheus_client import CollectorRegistry

from bridge.config import GovernorSettings
from bridge.governor import Governor, GovernorGate
from bridge.metrics import Metrics
from bridge.sink.executor import BatchExecutor
from bridge.sink.items import Batch, WriteItem, WritePath
from bridge.sink.outcomes import Failure, FailureKind, Written
from bridge.types import Lane
from tests.sink.factories import item
from tests.sink.fakeorg import FakeOrg


def _executor(org: FakeOrg) -> tuple[BatchExecutor, Metrics]:
    metrics = Metrics.create(CollectorRegistry())
    gate = GovernorGate(
        Governor(GovernorSettings(daily_limit_calls=org.limit), now_s=0.0),
        clock=asyncio.get_running_loop().time,
        metrics=metrics,
    )
    org.on_limit_info = gate.observe
    return BatchExecutor(org, gate, metrics), metrics


def _batch(items: list[WriteItem], path: WritePath = WritePath.COLLECTIONS) -> Batch:
    return Batch(Lane.BULK, items[0].record.sobject, "External_Id__c", path, tuple(items))


async def test_one_bad_record_in_200_is_isolated_and_199_are_written() -> None:
    org = FakeOrg()
    executor, metrics = _executor(org)
    items = [item(f"K{n}", offset=n, fields={"Name": "BAD" if n == 77 else f"N{n}"}) for n in range(200)]
    results = await executor.write(_batch(items))
    written = [i for i, o in results if isinstance(o, Written)]
    failed = [(i, o) for i, o in results if isinstance(o, Failure)]
    assert len(written) == 199
    assert [(i.offset, o.kind, o.error_code, o.fields) for i, o in failed] == [
        (77, FailureKind.PERMANENT, "FIELD_CUSTOM_VALIDATION_EXCEPTION", ("Name",))
    ]
    assert len(org.records) == 199
    assert org.calls["collections"] == 2  # the failing call, then the rolled-back rest at once
    assert metrics.registry.get_sample_value("bridge_batch_size_records_count", {"path": "collections"}) == 2


async def test_missing_parent_is_named_and_the_rest_written() -> None:
    org = FakeOrg()
    executor, _ = _executor(org)
    child = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-404"}})
    sibling = item("O-2", sobject="Opportunity", offset=1)
    results = dict(await executor.write(_batch([child, sibling])))
    assert isinstance(results[sibling], Written)
    failure = results[child]
    assert isinstance(failure, Failure)
    assert failure.kind is FailureKind.PARENT_MISSING


async def test_whole_call_failures_are_classified() -> None:
    org = FakeOrg(faults=["503", "lock", "limit"])
    executor, _ = _executor(org)
    kinds = []
    for n in range(3):
        results = await executor.write(_batch([item(f"K{n}a"), item(f"K{n}b", offset=1)]))
        kinds.append({o.kind for _, o in results if isinstance(o, Failure)})
    assert kinds == [
        {FailureKind.TRANSIENT},
        {FailureKind.TRANSIENT, FailureKind.ROLLED_BACK},  # the locked record, and its innocent neighbour
        {FailureKind.LIMIT_EXCEEDED},
    ]


async def test_apex_cpu_errors_come_back_as_cpu_limit() -> None:
    org = FakeOrg(cpu_max_records=10)
    executor, _ = _executor(org)
    results = await executor.write(_batch([item(f"K{n}", offset=n) for n in range(20)]))
    assert {o.kind for _, o in results if isinstance(o, Failure)} == {FailureKind.CPU_LIMIT, FailureKind.ROLLED_BACK}
    assert not org.records


async def test_a_bulk_job_accounts_for_every_record() -> None:
    org = FakeOrg()
    executor, _ = _executor(org)
    items = [item(f"K{n}", offset=n, fields={"Name": "BAD" if n == 3 else "ok"}) for n in range(50)]
    results = await executor.write(_batch(items, WritePath.BULK))
    assert len(results) == 50
    assert sum(isinstance(o, Written) for _, o in results) == 49
    (failure,) = [o for _, o in results if isinstance(o, Failure)]
    assert failure.kind is FailureKind.PERMANENT
    assert failure.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert failure.fields == ("Name",)
