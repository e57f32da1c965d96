"""SOQL values made comparable, and the comparisons of a WHERE clause: text case-folded, ids at 15 characters,
numbers, dates and time-zone-aware datetimes; date literals (`LAST_N_DAYS:7`) as half-open ranges; LIKE patterns.

    compare("<", normalized("number", "12.5"), 13.0)   # True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bridge.emulator.soql import Literal


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value)[:10])


def as_id(value: Any) -> str:
    text = str(value)
    return text[:15] if len(text) in (15, 18) else text


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "string": lambda value: str(value).casefold(),
    "id": as_id,
    "number": float,
    "boolean": as_bool,
    "date": as_date,
    "datetime": as_datetime,
}


def normalized(category: str, value: Any) -> Any:
    """A value made comparable: case-folded text, 15-character ids, numbers, dates and aware datetimes."""
    if value is None:
        return None
    normalize = NORMALIZERS.get(category)
    return value if normalize is None else normalize(value)


def date_range(literal: Literal, category: str, now: datetime) -> tuple[Any, Any]:
    """The half-open range [start, end) a date literal such as `LAST_N_DAYS:7` stands for."""
    word, n = literal.value
    today = now.astimezone(UTC).date()
    start, end = {
        "TODAY": (today, today + timedelta(days=1)),
        "YESTERDAY": (today - timedelta(days=1), today),
        "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
        "LAST_N_DAYS": (today - timedelta(days=n), today + timedelta(days=1)),
        "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=n + 1)),
    }[word]
    if category == "datetime":
        return as_datetime(start), as_datetime(end)
    return start, end


@functools.lru_cache(maxsize=256)
def like(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\\[%_]|[%_])", pattern)
    wild = {"%": ".*", "_": "."}
    regex = "".join(wild.get(part, re.escape(part.lstrip("\\") if part in ("\\%", "\\_") else part)) for part in parts)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])


def in_range(op: str, value: Any, bounds: tuple[Any, Any]) -> bool:
    if value is None:
        return op == "!="
    start, end = bounds
    inside = start <= value < end
    return bool(
        {
            "=": inside,
            "!=": not inside,
            "<": value < start,
            "<=": value < end,
            ">": value >= end,
            ">=": value >= start,
        }[op]
    )
