"""Formula data types: what a describe type becomes in a formula, and how record values are read into it.

Runtime values are `str` (text, picklists), `Decimal` (numbers), `bool`, `date`, `datetime` or `None` (blank).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.formula.errors import NotEvaluable

TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "datetime"
PICKLIST = "picklist"
MULTIPICKLIST = "multipicklist"
NULL = "null"
ANY = "any"
"""Unknown until run time (a field without a known describe type, a merge field)."""

ALL_KINDS = frozenset({TEXT, NUMBER, BOOLEAN, DATE, DATETIME, PICKLIST, MULTIPICKLIST})

_DESCRIBE_KINDS: dict[str, str] = {
    **dict.fromkeys(
        ("string", "textarea", "email", "phone", "url", "id", "reference", "encryptedstring", "combobox"), TEXT
    ),
    **dict.fromkeys(("double", "currency", "percent", "int", "long"), NUMBER),
    "boolean": BOOLEAN,
    "date": DATE,
    "datetime": DATETIME,
    "picklist": PICKLIST,
    "multipicklist": MULTIPICKLIST,
}

LABELS = {
    TEXT: "Text",
    NUMBER: "Number",
    BOOLEAN: "Boolean",
    DATE: "Date",
    DATETIME: "Date/Time",
    PICKLIST: "Picklist",
    MULTIPICKLIST: "Multi-Select Picklist",
    NULL: "Null",
    ANY: "Any",
}


def kind_of_describe(describe_type: str | None) -> str:
    """The formula kind of a describe `type` (`currency` is a number, `phone` is text, unknown is `any`)."""
    return _DESCRIBE_KINDS.get((describe_type or "").lower(), ANY)


def to_number(value: Any) -> Decimal | None:
    """A number from a record or merge value; bools and unparseable text are not numbers."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise NotEvaluable(f"expected a number, got {value!r}")
    if isinstance(value, int | float | str):
        if value == "":
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise NotEvaluable(f"expected a number, got {value!r}") from exc
    raise NotEvaluable(f"expected a number, got {type(value).__name__}")


def to_date(value: Any) -> date | None:
    """A date from an ISO 8601 string (`2024-05-01`) or a `date`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise NotEvaluable(f"expected a date, got {value!r}") from exc


def to_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime (naive values are taken as GMT) from ISO 8601 text or a `datetime`."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise NotEvaluable(f"expected a datetime, got {value!r}") from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise NotEvaluable(f"expected a datetime, got {value!r}")


def to_text(value: Any) -> str | None:
    """Text as Salesforce holds it: blank is `None`."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise NotEvaluable(f"expected text, got {value!r}")


def to_boolean(value: Any) -> bool:
    """A checkbox: blank is false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise NotEvaluable(f"expected true or false, got {value!r}")


def to_any(value: Any) -> Any:
    """A value whose type is not known in advance, read by its Python type."""
    if isinstance(value, bool) or value is None or isinstance(value, date | Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if value == "":
        return None
    return value


READERS: dict[str, Callable[[Any], Any]] = {
    TEXT: to_text,
    PICKLIST: to_text,
    MULTIPICKLIST: to_text,
    NUMBER: to_number,
    BOOLEAN: to_boolean,
    DATE: to_date,
    DATETIME: to_datetime,
    ANY: to_any,
}


def is_blank(value: Any) -> bool:
    """Salesforce's ISBLANK: no value, or empty text."""
    return value is None or value == ""
