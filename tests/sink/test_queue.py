"""Batch forming: coalescing by key, order per key, priority, parents first, linger, bulk jobs, CPU shrinking."""

from bridge.config import SinkSettings
from bridge.sink.items import WritePath
from bridge.sink.queue import LOOKAHEAD_MIN, WriteQueue
from bridge.sink.sizing import BatchSizer, Budget
from bridge.types import Lane
from tests.sink.factories import item


def _queue(**overrides: object) -> WriteQueue:
    return WriteQueue(
        SinkSettings.model_validate({"batch_size": 3, "batch_linger_s": 1.0, "batch_max_linger_s": 4.0} | overrides)
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


def test_realtime_first_then_parents_before_children() -> None:
    queue = _queue()
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-9"}}))
    queue.add(item("A-1", offset=1))
    queue.add(item("R-1", offset=2, lane=Lane.REALTIME))
    order = []
    while (batch := queue.take(0.0, flush=True)) is not None:  # A-9 is unknown, nothing upstream: O-1 goes
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
    queue.written((i.record_key for i in parent.items), 0.0)
    child = queue.take(0.0, flush=True)
    assert child is not None
    assert child.sobject == "Opportunity"


def test_a_bulk_child_of_an_unknown_parent_waits_until_its_upstream_generation_is_released() -> None:
    queue = _queue()
    child = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}})
    child.upstream_generation = 3  # read before the processor's third snapshot: its parent may still be upstream
    queue.add(child)
    assert queue.take(0.0, flush=True, released=2) is None
    late = queue.take(0.0, flush=True, released=3)  # everything published before it was read has been seen here
    assert late is not None
    assert [i.record.external_id for i in late.items] == ["O-1"]


def test_an_unknown_parent_that_shows_up_is_written_first() -> None:
    queue = _queue()
    child = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}})
    child.upstream_generation = 1
    queue.add(child)
    queue.add(item("A-1", offset=1))  # the parent arrives behind its child (a backlog read topic by topic)
    parent = queue.take(0.0, flush=True, released=0)
    assert parent is not None
    assert parent.sobject == "Account"
    assert queue.take(0.0, flush=True, released=5) is None  # released, but the parent is in flight
    queue.done(parent)
    queue.written(["Account:A-1"], 0.0)
    assert queue.take(0.0, flush=True, released=0) is not None  # a written parent: no generation to wait for


def test_realtime_children_and_children_of_written_parents_never_wait_for_upstream() -> None:
    queue = _queue()
    queue.written(["Account:A-1"], 0.0)
    known = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}})
    urgent = item("O-2", sobject="Opportunity", lane=Lane.REALTIME, fields={"Account": {"External_Id__c": "A-2"}})
    for child in (known, urgent):
        child.upstream_generation = 9
        queue.add(child)
    first = queue.take(0.0, flush=True, released=0)
    second = queue.take(0.0, flush=True, released=0)
    assert first is not None
    assert second is not None
    assert {first.items[0].record.external_id, second.items[0].record.external_id} == {"O-1", "O-2"}


def test_the_upstream_hold_is_bounded_by_parent_wait_s() -> None:
    queue = _queue(parent_wait_s=10.0)
    child = item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}}, read_at_s=0.0)
    child.upstream_generation = 1
    queue.add(child)
    assert queue.take(9.0, flush=True, released=0) is None
    assert queue.take(10.0, flush=True, released=0) is not None  # the processor never said: go anyway


def test_bulk_lingers_for_a_full_batch_realtime_does_not() -> None:
    queue = _queue()
    queue.add(item("A", read_at_s=0.0))
    queue.add(item("R", lane=Lane.REALTIME, read_at_s=0.0))
    realtime = queue.take(0.5)
    assert realtime is not None
    assert realtime.lane is Lane.REALTIME
    assert queue.take(0.5) is None  # a partial bulk batch: nothing has joined it for 0.5 s, linger is 1 s
    assert queue.take(1.0) is not None


def test_a_partial_bulk_batch_waits_while_records_keep_joining_it_up_to_max_linger() -> None:
    queue = _queue(batch_size=100)
    for n in range(8):  # one record every half second: never quiet for the 1 s linger
        queue.add(item(f"K{n}", offset=n, read_at_s=n * 0.5))
        assert queue.take(n * 0.5 + 0.4) is None
    batch = queue.take(4.4)  # first seen partial at 0.4 s: the 4 s of max linger are over
    assert batch is not None
    assert len(batch) == 8


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
    queue.written(["Account:A-1"], 0.0)
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
    queue.written(["Account:A-busy"], 0.0)
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
    assert [i.record.external_id for i in first.items] == ["O-2", "O-3"]  # the safe ones first
    assert [i.record.external_id for i in second.items] == ["O-1"]


def test_siblings_never_go_in_two_batches_at_once() -> None:
    queue = _queue(batch_size=1)
    queue.written(["Account:A-1"], 0.0)
    queue.add(item("O-1", sobject="Opportunity", fields={"Account": {"External_Id__c": "A-1"}}))
    queue.add(item("O-2", sobject="Opportunity", offset=1, fields={"Account": {"External_Id__c": "A-1"}}))
    first = queue.take(5.0, flush=True)
    assert first is not None
    assert queue.take(5.0, flush=True) is None  # O-2's parent row is locked by O-1's transaction
    queue.done(first)
    second = queue.take(5.0, flush=True)
    assert second is not None
    assert [i.record.external_id for i in second.items] == ["O-2"]


def _child(ext: str, parent: str, *, offset: int = 0, **kwargs: object) -> object:
    return item(ext, sobject="Opportunity", offset=offset, fields={"Account": {"External_Id__c": parent}}, **kwargs)  # type: ignore[arg-type]


def test_a_refused_parent_takes_its_queued_children_out_and_refuses_later_ones() -> None:
    from bridge.sink.parents import ParentRefusal

    queue = _queue()
    queue.add(_child("O-1", "A-1"))  # type: ignore[arg-type]
    queue.add(_child("O-2", "A-2", offset=1))  # type: ignore[arg-type]
    refusal = ParentRefusal("Account:A-1", "processor", "validation_rule")
    taken = queue.refuse(refusal, 0.0)
    assert [i.record.external_id for i in taken] == ["O-1"]
    assert len(queue) == 1  # O-2's parent is another one
    later = _child("O-3", "A-1", offset=2)
    assert queue.refused_parent(later, 1.0) == refusal  # type: ignore[arg-type]
    queue.add(item("A-1", offset=3))  # a new write of the parent: it is pending now, not refused
    assert queue.refused_parent(later, 1.0) is None  # type: ignore[arg-type]


def test_a_refusal_expires_and_a_write_of_the_parent_clears_it() -> None:
    from bridge.sink.parents import ParentBook, ParentRefusal

    book = ParentBook(ttl_s=10.0)
    book.refused(ParentRefusal("Account:A-1", "sink", "FIELD_CUSTOM_VALIDATION_EXCEPTION"), 0.0)
    assert book.refusal("Account:A-1", 9.0) is not None
    assert book.refusal("Account:A-1", 10.0) is None
    book.refused(ParentRefusal("Account:A-2", "sink", "X"), 0.0)
    book.written("Account:A-2", 1.0)
    assert book.refusal("Account:A-2", 1.0) is None
    assert book.is_written("Account:A-2", 5.0)
    assert not book.is_written("Account:A-2", 11.0)


def test_memories_are_bounded() -> None:
    from bridge.sink.parents import ParentBook, ParentRefusal

    book = ParentBook(max_written=3, max_refused=2)
    for n in range(5):
        book.written(f"Account:W-{n}", 0.0)
        book.refused(ParentRefusal(f"Account:R-{n}", "sink", "X"), 0.0)
    assert len(book) == 5
    assert not book.is_written("Account:W-0", 0.0)
    assert book.is_written("Account:W-4", 0.0)
    assert book.refusal("Account:R-0", 0.0) is None
    assert book.refusal("Account:R-4", 0.0) is not None


def test_a_child_waiting_for_a_missing_parent_goes_the_moment_the_parent_is_written() -> None:
    queue = _queue()
    child = _child("O-1", "A-1")
    child.parent_waits = 1  # type: ignore[attr-defined]
    child.not_before_s = 60.0  # type: ignore[attr-defined] # a backoff the CRM's parent_not_found earned it
    queue.add(child)  # type: ignore[arg-type]
    assert queue.take(1.0, flush=True) is None
    held, oldest = queue.held_children()
    assert (held, oldest) == (1, 0.0)
    queue.written(["Account:A-1"], 1.0)
    batch = queue.take(1.0, flush=True)
    assert batch is not None
    assert [i.record.external_id for i in batch.items] == ["O-1"]


def test_children_held_for_a_parent_in_the_queue_count_as_held() -> None:
    queue = _queue()
    queue.add(_child("O-1", "A-1", read_at_s=2.0))  # type: ignore[arg-type]
    queue.add(item("A-1", offset=1))
    assert queue.held_children() == (1, 2.0)


def test_a_missing_parent_nowhere_in_the_bridge_gives_its_children_up_once_released() -> None:
    queue = _queue()
    gone = _child("O-1", "A-gone")
    gone.parent_waits, gone.missing_generation, gone.not_before_s = 1, 4, 60.0  # type: ignore[attr-defined]
    pending_parent = _child("O-2", "A-2", offset=1)
    pending_parent.parent_waits, pending_parent.missing_generation = 1, 4  # type: ignore[attr-defined]
    queue.add(gone)  # type: ignore[arg-type]
    queue.add(pending_parent)  # type: ignore[arg-type]
    queue.add(item("A-2", offset=2))  # its parent came after all
    assert queue.missing_parents(3, 0.0) == []  # what was published before the failure is not all read yet
    given_up = queue.missing_parents(4, 0.0)
    assert [i.record.external_id for i in given_up] == ["O-1"]
    assert len(queue) == 2


def test_a_scarce_budget_turns_a_backlog_into_a_bulk_job_and_a_small_one_into_collections() -> None:

    queue = _queue(batch_size=10, bulk_threshold_records=10_000)
    for n in range(50):
        queue.add(item(f"K{n}", offset=n))
    scarce = Budget(allowance_calls=500.0, scarce=True)
    assert queue.take(0.0, budget=Budget(500.0)) is not None  # plenty of budget: Collections, 10 at a time
    assert queue.take(0.0, budget=scarce) is None  # scarce: wait for the group to grow into a job
    job = queue.take(5.0, budget=scarce)
    assert job is not None
    assert job.path is WritePath.COLLECTIONS  # 40 records are fewer than a job's calls would carry (8 x 10)
    for n in range(100, 300):
        queue.add(item(f"K{n}", offset=n))
    queue.take(10.0, budget=scarce)  # starts the linger
    big = queue.take(15.0, budget=scarce)
    assert big is not None
    assert big.path is WritePath.BULK


def test_a_budget_that_cannot_carry_the_backlog_on_collections_makes_a_job() -> None:

    queue = _queue(batch_size=10, bulk_threshold_records=10_000)
    for n in range(100):
        queue.add(item(f"K{n}", offset=n))
    tight = Budget(allowance_calls=9.0)  # 100 records need 10 Collections calls; a job needs about 8
    queue.take(0.0, budget=tight)
    job = queue.take(5.0, budget=tight)
    assert job is not None
    assert job.path is WritePath.BULK
    assert len(job) == 100


def test_after_an_apex_cpu_error_the_sobject_goes_by_smaller_collections_batches_not_bulk() -> None:
    queue = _queue(batch_size=10, bulk_threshold_records=20)
    for n in range(40):
        queue.add(item(f"K{n}", offset=n))
    queue.sizer.shrink("Account", 10)
    batch = queue.take(10.0, flush=True)
    assert batch is not None
    assert batch.path is WritePath.COLLECTIONS
    assert len(batch) == 5


def test_children_of_unknown_parents_gather_for_max_linger_while_safe_ones_go_past_them() -> None:
    queue = _queue(batch_size=10)
    queue.written(["Account:A-1"], 0.0)
    queue.add(_child("O-risky-1", "A-unknown-1", read_at_s=0.0))  # type: ignore[arg-type]
    queue.add(_child("O-safe", "A-1", offset=1, read_at_s=0.0))  # type: ignore[arg-type]
    safe = queue.take(1.0)  # quiet for the 1 s linger: the safe child goes, past the risky one ahead of it
    assert safe is not None
    assert [i.record.external_id for i in safe.items] == ["O-safe"]
    queue.done(safe)
    queue.add(_child("O-risky-2", "A-unknown-2", offset=2, read_at_s=2.0))  # type: ignore[arg-type]
    assert queue.take(3.5) is None  # one failing batch costs a call however many it holds: let them gather
    assert queue.take(7.0) is None
    risky = queue.take(7.5)  # batch_max_linger_s (4 s) after they were first looked at as a batch, at 3.5 s
    assert risky is not None
    assert [i.record.external_id for i in risky.items] == ["O-risky-1", "O-risky-2"]
