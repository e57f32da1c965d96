"""The offset tracker: out-of-order settlement, gaps, re-deliveries and commits."""

import random

from hypothesis import given
from hypothesis import strategies as st

from bridge.sink.offsets import OffsetTracker


def test_nothing_to_commit_before_the_first_outcome() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    for offset in (5, 6, 7):
        assert tracker.track(offset)
    assert tracker.committable() is None
    assert tracker.pending == 3


def test_out_of_order_settlement_holds_the_commit_at_the_oldest_unsettled() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.track(offset)
    tracker.settle(7)
    assert tracker.committable() is None
    tracker.settle(5)
    assert tracker.committable() == 6
    tracker.settle(6)
    assert tracker.committable() == 8


def test_gaps_in_the_offsets_do_not_hold_the_commit() -> None:
    tracker = OffsetTracker()
    for offset in (10, 13, 20):  # compaction or transaction markers left holes
        tracker.track(offset)
    tracker.settle(10)
    tracker.settle(13)
    assert tracker.committable() == 20
    tracker.settle(20)
    assert tracker.committable() == 21


def test_a_commit_moves_the_floor_and_re_deliveries_are_refused() -> None:
    tracker = OffsetTracker()
    tracker.track(0)
    tracker.track(1)
    tracker.settle(0)
    tracker.settle(1)
    assert tracker.committable() == 2
    tracker.committed(2)
    assert tracker.committable() is None
    assert not tracker.track(1)
    assert tracker.track(2)
    assert not tracker.track(2)
    tracker.settle(99)  # never tracked: ignored
    assert tracker.committable() is None


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=60, unique=True), st.randoms())
def test_never_commits_past_an_unsettled_offset(offsets: list[int], rnd: random.Random) -> None:
    ordered = sorted(offsets)
    tracker = OffsetTracker()
    for offset in ordered:
        tracker.track(offset)
    settled: set[int] = set()
    for offset in rnd.sample(ordered, len(ordered)):
        tracker.settle(offset)
        settled.add(offset)
        commit = tracker.committable()
        if commit is not None:
            assert all(o in settled for o in ordered if o < commit)
            tracker.committed(commit)
    assert tracker.pending == 0
    assert tracker.committable() is None  # everything was committed on the way
