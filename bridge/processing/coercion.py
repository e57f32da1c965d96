"""How Salesforce reads a JSON value written over REST into a field of a given describe type.

The org converts some values of another JSON type (`"12.5"` in a currency field, `"true"` or `1` in a checkbox,
a number in a text field, `"closed won"` for a restricted picklist's `Closed Won`) and refuses others. The
pre-validator must judge as the org does, so it refuses nothing the org would take, and the validation rules see
the value the org will hold. The cases, with the documentation's wording, are in `tests/emulator/coercion_cases.py`.

    coerce(meta, "12.5")  # -> Coerced(Decimal("12.5"))  or  Refused("expects a number")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bridge.processing.metadata import INTEGER_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldMeta

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?"
    r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True, slots=True)
class Coerced:
    """The value the org stores (numeric text as `Decimal`, datetimes in UTC, picklist values in their defined case)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Refused:
    """The org cannot read the value into the field; `reason` says what the field expects."""

    reason: str


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return Decimal(value)
    return None


def _as_number(meta: FieldMeta, value: Any) -> Coerced | Refused:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Coerced(value)  # a JSON number is read as it is (the formula engine reads it exactly)
    number = _number(value)
    return Refused("expects a number") if number is None else Coerced(number)


def _as_integer(meta: FieldMeta, value: Any) -> Coerced | Refused:
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        return Refused("expects an integer")
    number = _number(value)
    if number is None or number != number.to_integral_value():
        return Refused("expects an integer")
    return Coerced(int(number))


def _as_boolean(meta: FieldMeta, value: Any) -> Coerced | Refused:
    if isinstance(value, bool):
        return Coerced(value)
    key = value.lower() if isinstance(value, str) else str(value) if type(value) is int else None
    found = _BOOLEANS.get(key) if key is not None else None
    return Refused("expects true or false") if found is None else Coerced(found)


def _moment(value: Any) -> tuple[str, datetime] | None:
    """The date as written and the moment in UTC (a date alone is midnight UTC, no zone is UTC)."""
    match = _DATETIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    fraction = match["f"]
    text = value if fraction is None or len(fraction) <= 6 else value.replace(fraction, fraction[:6], 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return match["date"], moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _as_date(meta: FieldMeta, value: Any) -> Coerced | Refused:
    found = _moment(value)
    return Refused("expects a date (YYYY-MM-DD)") if found is None else Coerced(found[0])


def _as_datetime(meta: FieldMeta, value: Any) -> Coerced | Refused:
    found = _moment(value)
    return Refused("expects an ISO 8601 datetime") if found is None else Coerced(found[1])


def _as_text(meta: FieldMeta, value: Any) -> Coerced | Refused:
    if isinstance(value, str):
        return Coerced(value)
    if isinstance(value, bool):
        return Coerced("true" if value else "false")
    if isinstance(value, int | float):
        return Coerced(str(value))
    return Refused("expects text")


def _as_picklist(meta: FieldMeta, value: Any) -> Coerced | Refused:
    text = _as_text(meta, value)
    if isinstance(text, Refused) or not meta.restricted_picklist or text.value in meta.picklist_values:
        return text
    defined = {v.casefold(): v for v in meta.picklist_values}
    parts = text.value.split(";") if meta.type == "multipicklist" else [text.value]
    # An unknown value stays as sent, for the picklist check to name it.
    return Coerced(";".join(defined.get(part.casefold(), part) for part in parts))


_COERCIONS: dict[str, Callable[[FieldMeta, Any], Coerced | Refused]] = {
    **dict.fromkeys(TEXT_TYPES | {"reference"}, _as_text),
    "picklist": _as_picklist,
    "multipicklist": _as_picklist,
    "boolean": _as_boolean,
    **dict.fromkeys(INTEGER_TYPES, _as_integer),
    **dict.fromkeys(NUMBER_TYPES, _as_number),
    "date": _as_date,
    "datetime": _as_datetime,
}


def coerce(meta: FieldMeta, value: Any) -> Coerced | Refused:
    """The value the org holds after writing `value` (not None, not "") to the field, or why it refuses it."""
    coercion = _COERCIONS.get(meta.type)
    return Coerced(value) if coercion is None else coercion(meta, value)
