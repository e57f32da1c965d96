"""Text functions: LEN, TEXT, VALUE, ISNUMBER, CONTAINS, BEGINS, UPPER, LOWER, TRIM, LEFT, RIGHT, MID, FIND,
SUBSTITUTE, LPAD, RPAD. Blank text reads as empty; comparisons are case-sensitive, as in Salesforce."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.formula.compiled import Builder, spec
from bridge.formula.errors import NotEvaluable
from bridge.formula.kinds import BOOLEAN, DATE, DATETIME, NUMBER, PICKLIST, TEXT
from bridge.formula.operators import value_class

_T = (TEXT,)
_N = (NUMBER,)


def _s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise NotEvaluable(f"expected text, got {value!r}")


def _count(value: Any) -> int:
    if value is None:
        return 0
    if value_class(value) is not Decimal:
        raise NotEvaluable(f"expected a number, got {value!r}")
    return max(int(value), 0)


def format_number(value: Decimal) -> str:
    """A number as TEXT() writes it: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def text_of(value: Any) -> str | None:
    """TEXT(): numbers, dates (`YYYY-MM-DD`), datetimes (`YYYY-MM-DD HH:MM:SSZ`, GMT), picklists and text."""
    if value is None or isinstance(value, str):
        return value
    kind = value_class(value)
    if kind is Decimal:
        return format_number(value)
    if kind is datetime:
        return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"))
    if kind is date:
        return str(value.isoformat())
    return "true" if value else "false"


def _parse_number(value: Any) -> Decimal | None:
    text = _s(value).strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def value_of(value: Any) -> Decimal | None:
    """VALUE(): the number in a text; text that is not a number is an error in Salesforce."""
    if value is None or value == "":
        return None
    number = _parse_number(value)
    if number is None:
        raise NotEvaluable(f"VALUE() of text that is not a number: {value!r}")
    return number


def _mid(text: Any, start: Any, length: Any) -> str:
    begin = max(_count(start), 1) - 1
    return _s(text)[begin : begin + _count(length)]


def _find(search: Any, text: Any, start: Any = Decimal(1)) -> Decimal:
    needle, haystack = _s(search), _s(text)
    begin = _count(start)
    if not needle or begin < 1:
        return Decimal(0)
    return Decimal(haystack.find(needle, begin - 1) + 1)


def _substitute(text: Any, old: Any, new: Any) -> str:
    source, target = _s(old), _s(new)
    return _s(text).replace(source, target) if source else _s(text)


def _right(text: Any, count: Any) -> str:
    n = _count(count)
    return _s(text)[-n:] if n else ""


def _pad(left: bool) -> Any:
    def run(text: Any, length: Any, padding: Any = " ") -> str:
        """LPAD/RPAD: pad to `length` with `padding`, or cut a longer text to `length` (from the left)."""
        value, size, fill = _s(text), _count(length), _s(padding)
        if len(value) >= size or not fill:
            return value[:size]
        extra = (fill * size)[: size - len(value)]
        return extra + value if left else value + extra

    return run


FUNCTIONS: dict[str, Builder] = {
    "LEN": spec(lambda a: Decimal(len(_s(a))), NUMBER, _T),
    "TEXT": spec(text_of, TEXT, (TEXT, NUMBER, DATE, DATETIME, PICKLIST, BOOLEAN)),
    "VALUE": spec(value_of, NUMBER, _T),
    "ISNUMBER": spec(lambda a: _parse_number(a) is not None, BOOLEAN, _T),
    "CONTAINS": spec(lambda a, b: _s(b) in _s(a), BOOLEAN, _T, _T),
    "BEGINS": spec(lambda a, b: _s(a).startswith(_s(b)), BOOLEAN, _T, _T),
    "UPPER": spec(lambda a: _s(a).upper(), TEXT, _T),
    "LOWER": spec(lambda a: _s(a).lower(), TEXT, _T),
    "TRIM": spec(lambda a: _s(a).strip(" \t\r\n"), TEXT, _T),
    "LEFT": spec(lambda a, n: _s(a)[: _count(n)], TEXT, _T, _N),
    "RIGHT": spec(_right, TEXT, _T, _N),
    "MID": spec(_mid, TEXT, _T, _N, _N),
    "FIND": spec(_find, NUMBER, _T, _T, _N, optional=1),
    "SUBSTITUTE": spec(_substitute, TEXT, _T, _T, _T),
    "LPAD": spec(_pad(left=True), TEXT, _T, _N, _T, optional=1),
    "RPAD": spec(_pad(left=False), TEXT, _T, _N, _T, optional=1),
}
