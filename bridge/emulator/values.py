"""How the org reads a JSON value into a field of each type over REST: what it converts, to what, and what not.

Salesforce's REST deserializer converts some values of another JSON type: numeric strings for numbers, `"true"`
and `1` for checkboxes, numbers and booleans for text, datetimes for dates, any zone for a datetime (stored in
UTC), and a restricted picklist's values in another case. `read` returns the stored form, or raises `Unreadable`
for what the org refuses while deserializing (JSON_PARSER_ERROR). The cases, with the documentation's wording,
are in `tests/emulator/coercion_cases.py`; the pre-validator reads values by the same table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2}))?")
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
TEXT_TYPES = frozenset({"string", "textarea", "phone", "url", "email", "combobox", "encryptedstring"})
NUMBER_TYPES = frozenset({"double", "currency", "percent"})


class Unreadable(ValueError):
    """The org cannot deserialize the value for the field's type."""


def read_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Unreadable(value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise Unreadable(value)
    number = float(value)
    if not math.isfinite(number):
        raise Unreadable(value)
    return number


def read_int(value: Any) -> int:
    if isinstance(value, str) and not _WHOLE.fullmatch(value):
        raise Unreadable(value)
    if isinstance(value, str):
        return int(value)
    number = read_number(value)
    if not number.is_integer():
        raise Unreadable(value)  # an int field takes no fraction: 2.5 is not truncated
    return int(number)


def read_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = value.lower() if isinstance(value, str) else str(value) if type(value) is int else ""
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise Unreadable(value)


def _parse_moment(value: Any) -> datetime:
    """A date, or a date and time with or without a zone (no zone is UTC), as an aware UTC datetime."""
    if not isinstance(value, str) or not _DAY.match(value) or (len(value) != 10 and not _TIME.fullmatch(value, 10)):
        raise Unreadable(value)
    text = value.replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unreadable(value) from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def read_date(value: Any) -> str:
    _parse_moment(value)
    return date.fromisoformat(value[:10]).isoformat()  # the date as written, whatever the time and zone


def read_datetime(value: Any) -> str:
    moment = _parse_moment(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def read_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return value if isinstance(value, str) else str(value)
    raise Unreadable(value)


READERS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(TEXT_TYPES | {"picklist", "multipicklist"}, read_text),
    **dict.fromkeys(NUMBER_TYPES, read_number),
    "int": read_int,
    "boolean": read_boolean,
    "date": read_date,
    "datetime": read_datetime,
}


def canonical_picklist(text: str, values: tuple[str, ...], *, multi: bool) -> tuple[str, list[str]]:
    """A restricted picklist's value(s) in their defined case, and those that are not defined at all."""
    by_fold = {v.casefold(): v for v in values}
    parts = text.split(";") if multi else [text]
    unknown = [part for part in parts if part.casefold() not in by_fold]
    return ";".join(by_fold.get(part.casefold(), part) for part in parts), unknown
