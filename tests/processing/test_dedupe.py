"""Dedupe: redelivered, unchanged and stale events are skipped by reason; coalescing merges a key."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.processing.dedupe import (
    Apply,
    DedupeConfig,
    KeyState,
    Skip,
    coalesce,
    content_hash,
    decide,
    decode_state,
    encode_state,
    remember,
)
from bridge.processing.records import MappedRecord
from bridge.types import Lane, SkipReason


def rec(version: int | None, event_id: str, lane: Lane = Lane.BULK, key: str = "C-1", **fields: Any) -> MappedRecord:
    return MappedRecord("Account", "X__c", key, {"Name": "A", **fields}, lane, version, (event_id,))


def applied(state: KeyState | None, record: MappedRecord) -> KeyState:
    decision = decide(state, record)
    assert isinstance(decision, Apply)
    return decision.state


def test_first_write_applies() -> None:
    state = applied(None, rec(1, "e1"))
    assert state.version == 1
    assert state.event_ids == ("e1",)
    assert state.fields == {"Name": "A"}


def test_redelivered_event_is_a_duplicate() -> None:
    state = applied(None, rec(1, "e1"))
    assert decide(state, rec(1, "e1")) == Skip(SkipReason.DUPLICATE, "event e1 was already applied")


def test_same_content_under_a_new_id_is_unchanged() -> None:
    state = applied(None, rec(1, "e1"))
    decision = decide(state, rec(2, "e2"))
    assert isinstance(decision, Skip)
    assert decision.reason is SkipReason.UNCHANGED


def test_older_version_is_stale_even_with_new_content() -> None:
    state = applied(None, rec(5, "e5", Phone="1"))
    decision = decide(state, rec(4, "e4", Phone="2"))
    assert isinstance(decision, Skip)
    assert decision.reason is SkipReason.STALE


def test_partial_updates_compare_against_merged_values() -> None:
    state = applied(None, rec(1, "e1", Phone="1"))
    state = applied(state, rec(2, "e2", Website="w"))
    assert state.fields == {"Name": "A", "Phone": "1", "Website": "w"}
    skip = decide(state, rec(3, "e3", Phone="1"))  # nothing new
    assert isinstance(skip, Skip)
    assert skip.reason is SkipReason.UNCHANGED


def test_recent_ids_are_bounded_and_remembered_for_skips() -> None:
    config = DedupeConfig(recent_event_ids=3)
    state: KeyState | None = None
    for n in range(5):
        decision = decide(state, rec(n, f"e{n}", Phone=str(n)), config)
        assert isinstance(decision, Apply)
        state = decision.state
    assert state is not None
    assert state.event_ids == ("e2", "e3", "e4")
    noted = remember(state, rec(1, "late"), config)
    assert noted.event_ids == ("e3", "e4", "late")
    assert noted.version == 4


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_state_round_trips_and_garbage_reads_as_empty() -> None:
    state = applied(None, rec(7, "e7", Phone="1"))
    assert decode_state(encode_state(state)) == state
    assert decode_state(b"") is None
    assert decode_state(b"{not json") is None
    assert decode_state(b'{"x": 1}') is None


def test_coalesce_merges_per_key_and_keeps_realtime() -> None:
    writes, folded = coalesce(
        [
            rec(1, "a1", Phone="1"),
            rec(1, "b1", key="C-2"),
            rec(2, "a2", Lane.REALTIME, Website="w"),
            rec(3, "a3", Phone="3"),
        ]
    )
    assert folded == 2
    assert [w.key for w in writes] == ["Account:C-1", "Account:C-2"]
    first = writes[0]
    assert first.fields == {"Name": "A", "Phone": "3", "Website": "w"}
    assert first.version == 3
    assert first.event_ids == ("a1", "a2", "a3")
    assert first.lane is Lane.REALTIME


@given(st.permutations(list(range(1, 30))))
def test_out_of_order_versions_only_ever_move_forward(order: list[int]) -> None:
    state: KeyState | None = None
    applied_versions: list[int] = []
    for version in order:
        decision = decide(state, rec(version, f"e{version}", Phone=str(version)))
        if isinstance(decision, Apply):
            applied_versions.append(version)
            state = decision.state
        else:
            assert decision.reason is SkipReason.STALE
    assert applied_versions == sorted(applied_versions)
    assert state is not None
    assert state.version == 29
    assert state.fields["Phone"] == "29"
