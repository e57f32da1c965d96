"""Strict JSON: what orjson refuses, and what it would take silently (duplicate keys, integers beyond 64 bits)."""

from __future__ import annotations

import pytest

from bridge.errors import MalformedEvent
from bridge.ingest.body import strict_json
from bridge.ingest.grants import Grants, compile_pattern


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"a": {"b": 1, "c": 2, "b": 3}}', "the key 'b' appears twice"),
        (b'{"n": 9223372036854775808}', "outside the signed 64-bit range"),
        (b'{"n": 18446744073709551615}', "outside the signed 64-bit range"),  # orjson takes u64
        (b'{"n": 123456789012345678901234567890}', "outside the signed 64-bit range"),  # orjson: a float
        (b'{"n": -9223372036854775809}', "outside the signed 64-bit range"),
        (b'{"n": NaN}', "not valid JSON"),
        (b'{"n": Infinity}', "not valid JSON"),
        (b'{"n": 1e400}', "infinity"),
        (b'{"s": "\\ud800"}', "surrogate"),
        (b'{"s": "\xff"}', "UTF-8"),
        (b'{"a": [1, 2', "not valid JSON"),
        (b"[" * 2_000 + b"]" * 2_000, "not valid JSON"),
    ],
)
def test_strict_json_refuses(raw: bytes, fragment: str) -> None:
    with pytest.raises(MalformedEvent, match=fragment):
        strict_json(raw)


def test_strict_json_keeps_what_is_valid() -> None:
    assert strict_json(b'{"n": 9223372036854775807, "m": -9223372036854775808, "f": 1.5, "u": "\\u00fc"}') == {
        "n": 2**63 - 1,
        "m": -(2**63),
        "f": 1.5,
        "u": "ü",
    }


def test_patterns_have_one_wildcard_and_everything_else_is_literal() -> None:
    assert compile_pattern("erp://acme/*").fullmatch("erp://acme/eu/1")
    assert not compile_pattern("erp://acme/*").fullmatch("erp://acme?/eu")
    assert not compile_pattern("com.acme.crm.*").fullmatch("comXacme.crm.x")  # `.` is a dot
    assert compile_pattern("a?b[c]").fullmatch("a?b[c]")
    grants = Grants.of(["erp://acme"], ["com.acme.crm.customer.*"])
    assert grants.refusal(source="erp://acme", type="com.acme.crm.customer.upserted") is None
    assert "source 'erp://acme2'" in (grants.refusal(source="erp://acme2", type="com.acme.crm.customer.x") or "")
