"""Date functions: TODAY and NOW (from the injected clock), DATE, YEAR, MONTH, DAY, WEEKDAY, ADDMONTHS, DATEVALUE,
DATETIMEVALUE."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bridge.formula.compiled import Builder, Checker, Compiled, spec
from bridge.formula.context import FormulaContext
from bridge.formula.errors import NotEvaluable
from bridge.formula.kinds import DATE, DATETIME, NUMBER, TEXT, to_date, to_datetime
from bridge.formula.operators import value_class
from bridge.formula.syntax import Call

_N = (NUMBER,)


def _today(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 0, 0)

    def run(context: FormulaContext) -> date:
        if context.today is None:
            raise NotEvaluable("TODAY() needs today's date in the context")
        return context.today

    return Compiled(run, DATE)


def _now(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 0, 0)

    def run(context: FormulaContext) -> datetime | None:
        if context.now is None:
            raise NotEvaluable("NOW() needs the current time in the context")
        return to_datetime(context.now)  # naive is GMT, like the values it is compared with

    return Compiled(run, DATETIME)


def _make_date(year: Any, month: Any, day: Any) -> date | None:
    if year is None or month is None or day is None:
        return None
    try:
        return date(int(year), int(month), int(day))
    except (ValueError, TypeError) as exc:
        raise NotEvaluable(f"DATE({year}, {month}, {day}) is not a valid date") from exc


def _part(name: str) -> Any:
    def run(value: Any) -> Decimal | None:
        if value is None:
            return None
        if value_class(value) not in (date, datetime):
            raise NotEvaluable(f"expected a date, got {value!r}")
        return Decimal(getattr(value, name))

    return run


def _datevalue(value: Any) -> date | None:
    if value is not None and value_class(value) not in (str, date, datetime):
        raise NotEvaluable(f"DATEVALUE() of {value!r}")
    return to_date(value)


def _weekday(value: Any) -> Decimal | None:
    """WEEKDAY(): 1 for Sunday through 7 for Saturday."""
    day = to_date(value)
    return None if day is None else Decimal(day.isoweekday() % 7 + 1)


def _add_months(value: Any, months: Any) -> date | None:
    """ADDMONTHS(): the same day n months later, clamped to the month's end; a month's last day stays last."""
    start = to_date(value)
    if start is None or months is None:
        return None
    index = start.year * 12 + start.month - 1 + int(months)
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    was_last = start.day == calendar.monthrange(start.year, start.month)[1]
    return date(year, month + 1, last if was_last else min(start.day, last))


def _datetimevalue(value: Any) -> datetime | None:
    """DATETIMEVALUE(): `YYYY-MM-DD HH:MM:SS` text (GMT) or a date at midnight GMT."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return to_datetime(value.strip().replace(" ", "T", 1))
    return to_datetime(value)


FUNCTIONS: dict[str, Builder] = {
    "TODAY": _today,
    "NOW": _now,
    "DATE": spec(_make_date, DATE, _N, _N, _N),
    "YEAR": spec(_part("year"), NUMBER, (DATE,)),
    "MONTH": spec(_part("month"), NUMBER, (DATE,)),
    "DAY": spec(_part("day"), NUMBER, (DATE,)),
    "DATEVALUE": spec(_datevalue, DATE, (TEXT, DATETIME, DATE)),
    "DATETIMEVALUE": spec(_datetimevalue, DATETIME, (TEXT, DATE, DATETIME)),
    "WEEKDAY": spec(_weekday, NUMBER, (DATE,)),
    "ADDMONTHS": spec(_add_months, DATE, (DATE, DATETIME), _N),
}
