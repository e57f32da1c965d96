"""Salesforce record ids: 15-character case-sensitive ids with the 3-character case-safe suffix (18 in all)."""

from __future__ import annotations

import string

_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def case_safe_suffix(id15: str) -> str:
    """The three characters Salesforce appends so that an id survives case-insensitive systems."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, number: int, *, pod: str = "5g") -> str:
    """An 18-character id: key prefix, pod, a base-62 counter, and the case-safe suffix (`0015g0000000001AAA`)."""
    digits = ""
    n = number
    while n:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
    body = (key_prefix + pod + digits.rjust(10, "0"))[:15]
    return body + case_safe_suffix(body)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when `value` is not a well-formed id."""
    if len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return None
    body = value[:15]
    full = body + case_safe_suffix(body)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        return None
    return full
