"""Batch forming: coalescing by key, order per key, priority, parents first, linger, bulk jobs, CPU shrinking."""

from bridge.config import SinkSettings
from bridge.sink.items import WritePath
from bridge.sink.queue import LOOKAHEAD_MIN, BatchSizer, WriteQueue
from bridge.types import Lane
from tests.sink.factories import item

PARENT_GRACE_S = 3.0


def _queue(**overrides: object) -> WriteQueue:
    return WriteQueue(
        SinkSettings.model_validate(
            {"batch_size": 3, "batch_linger_s": 1.0, "parent_grace_s": PARENT_GRACE_S} | overrides
        )
    )


def test_a_batch_never_holds_a_key_twice_and_keeps_order_per_key() -> None:
    queue = _queue()
    for offset, ext in enumerate(["A", "B", "A", "C", "A"]):
        queue.add(item(ext, offset=offset))
    first = queue.take(0.0, flush=True)
    assert first is not None
    assert [i.offset for i in first.items] == [0, 1, 3]
    assert queue.take(0.0, flush=True) is None  # A is in flight: its later writes wait
    queue.done(first)
    second = queue.take(0.0, flush=True)
    assert second is not None
    assert [i.offset for i in second.items] == [2]
    queue.done(second)
    third = queue.take(0.0, flush=True)
    assert third is not None
    assert [i.offset for i in third.items] == [4]


def test_put_back_goes_ahead_of_later_writes_of_the_key_and_waits_for_its_retry() -> None:
    queue = _queue()
    queue.add(item("A", offset=0))
    batch = queue.take(0.0, flush=True)
    assert batch is not None
    queue.add(item("A", offset=1))
    queue.done(batch)
    (retry,) = batch.items
    retry.not_before_s = 5.0
    queue.put_back([retry])
    assert queue.take(1.0, flush=True) is None  # the retry is not due and offset 1 must not overtake it
    again = queue.take(5.0, flush=True)
    assert again is not None
    assert [i.offset for i in again.items] == [0]
    assert queue.next_due_s() == 0.0


def test_realtime_first_then_parents_before_children() -> None:
    queue = _queue()
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-9"}}))
    queue.add(item("A-1", offset=1))
    queue.add(item("R-1", offset=2, lane=Lane.REALTIME))
    order = []
    while (batch := queue.take(PARENT_GRACE_S, flush=True)) is not None:  # A-9 never comes: O-1 goes after the grace
        order.append([i.record.external_id for i in batch.items])
        queue.done(batch)
    assert order == [["R-1"], ["A-1"], ["O-1"]]


def test_a_child_waits_while_its_parent_is_pending_or_in_flight() -> None:
    queue = _queue()
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}}))
    queue.add(item("A-1", offset=1))
    parent = queue.take(0.0, flush=True)
    assert parent is not None
    assert parent.sobject == "Account"
    assert queue.take(0.0, flush=True) is None
    queue.done(parent)
    queue.written(i.record_key for i in parent.items)
    child = queue.take(0.0, flush=True)
    assert child is not None
    assert child.sobject == "Opportunity"


def test_a_child_of_a_parent_never_seen_waits_a_grace_then_goes() -> None:
    queue = _queue()
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-elsewhere"}}))
    assert queue.take(PARENT_GRACE_S / 2, flush=True) is None  # the parent may be just behind, on another partition
    late = queue.take(PARENT_GRACE_S, flush=True)
    assert late is not None
    assert [i.record.external_id for i in late.items] == ["O-1"]


def test_bulk_lingers_for_a_full_batch_realtime_does_not() -> None:
    queue = _queue()
    queue.add(item("A", read_at_s=0.0))
    queue.add(item("R", lane=Lane.REALTIME, read_at_s=0.0))
    realtime = queue.take(0.5)
    assert realtime is not None
    assert realtime.lane is Lane.REALTIME
    assert queue.take(0.5) is None  # a partial bulk batch: its linger starts now
    assert queue.take(1.0) is None
    assert queue.take(1.5) is not None


def test_a_large_bulk_backlog_becomes_one_bulk_job() -> None:
    queue = _queue(bulk_threshold_records=5)
    for offset in range(7):
        queue.add(item(f"K{offset}", offset=offset))
    assert queue.take(0.0) is None  # a job may grow for a while: it costs the same calls whatever its size
    assert queue.take(4.0) is None
    batch = queue.take(5.0)
    assert batch is not None
    assert batch.path is WritePath.BULK
    assert len(batch) == 7
    assert len(queue) == 0
    for offset in range(7, 13):
        queue.add(item(f"K{offset}", offset=offset))
    flushed = queue.take(5.0, flush=True)  # nothing more is coming: no reason to wait
    assert flushed is not None
    assert flushed.path is WritePath.BULK


def test_sizer_halves_to_one_and_grows_back_slowly() -> None:
    sizer = BatchSizer(200)
    sizer.shrink("Account", 200)
    assert sizer.size("Account") == 100
    for _ in range(10):
        sizer.shrink("Account", sizer.size("Account"))
    assert sizer.size("Account") == 1
    sizer.grow("Account")
    assert sizer.size("Account") == 2
    for _ in range(100):
        sizer.grow("Account")
    assert sizer.size("Account") == 200
    assert sizer.size("Contact") == 200


def test_drop_removes_revoked_partitions() -> None:
    queue = _queue()
    queue.add(item("A", partition=0))
    queue.add(item("B", partition=1))
    dropped = queue.drop(lambda i: i.partition == 1)
    assert [i.record.external_id for i in dropped] == ["B"]
    assert len(queue) == 1


def test_a_partial_batch_with_records_held_back_lingers_even_when_flushing() -> None:
    queue = _queue()
    queue.add(item("A-1", offset=0))
    parent = queue.take(0.0, flush=True)
    assert parent is not None
    queue.add(item("O-1", sobject="Opportunity", offset=1))
    queue.add(item("O-2", sobject="Opportunity", offset=2, fields={"Account": {"External_Id__c": "A-1"}}))
    assert queue.take(0.0, flush=True) is None  # O-2 waits for its parent: O-1 waits a moment for company
    queue.done(parent)
    queue.written(["Account:A-1"])
    both = queue.take(0.5, flush=True)
    assert both is not None
    assert [i.record.external_id for i in both.items] == ["O-1", "O-2"]


def test_an_unread_backlog_makes_a_job_wait_to_grow_instead_of_starting_with_collections() -> None:
    queue = _queue(bulk_threshold_records=100)
    for offset in range(10):
        queue.add(item(f"K{offset}", offset=offset))
    assert queue.take(60.0, backlog=500) is None  # 10 read, 500 to come: neither 200-batches nor a tiny job
    assert queue.take(60.0, backlog=0) is not None  # nothing more to come: a Collections batch goes
    for offset in range(10, 160):
        queue.add(item(f"K{offset}", offset=offset))
    assert queue.take(60.0, backlog=500) is None
    job = queue.take(60.0, flush=True, backlog=500)  # the queue is full: the job goes as it is
    assert job is not None
    assert job.path is WritePath.BULK
    assert len(job) == 157  # the 7 left after one Collections batch of 3, and the 150 read since


def test_forming_a_batch_looks_only_so_far_into_a_long_queue() -> None:
    queue = _queue()
    busy_parent = item("A-busy", sobject="Account", offset=0)
    queue.add(busy_parent)
    in_flight = queue.take(0.0, flush=True)
    assert in_flight is not None
    children = LOOKAHEAD_MIN + 10
    for n in range(children):
        queue.add(item(f"O-{n}", sobject="Opportunity", offset=n + 1, fields={"Account": {"External_Id__c": "A-busy"}}))
    ready = item("O-ready", sobject="Opportunity", offset=children + 1, fields={"Name": "no parent"})
    queue.add(ready)
    # Every child waits for its parent in flight; the one ready record sits beyond the lookahead, so it waits too.
    assert queue.take(0.0, flush=True) is None
    queue.done(in_flight)
    queue.written(["Account:A-busy"])
    batch = queue.take(0.0, flush=True)
    assert batch is not None
    assert len(batch) == queue.sizer.size("Opportunity")


def test_records_whose_parent_was_missing_are_batched_apart() -> None:
    queue = _queue()
    orphan = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-gone"}})
    orphan.parent_waits = 1
    queue.add(orphan)
    queue.add(item("O-2", sobject="Opportunity", offset=1))
    queue.add(item("O-3", sobject="Opportunity", offset=2))
    first = queue.take(0.0, flush=True)
    second = queue.take(0.0, flush=True)
    assert first is not None
    assert second is not None
    assert [i.record.external_id for i in first.items] == ["O-1"]
    assert [i.record.external_id for i in second.items] == ["O-2", "O-3"]


def test_siblings_never_go_in_two_batches_at_once() -> None:
    queue = _queue(batch_size=1)
    queue.written(["Account:A-1"])
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}}))
    queue.add(item("O-2", sobject="Opportunity", offset=1, fields={"Account": {"External_Id__c": "A-1"}}))
    first = queue.take(5.0, flush=True)
    assert first is not None
    assert queue.take(5.0, flush=True) is None  # O-2's parent row is locked by O-1's transaction
    queue.done(first)
    second = queue.take(5.0, flush=True)
    assert second is not None
    assert [i.record.external_id for i in second.items] == ["O-2"]
