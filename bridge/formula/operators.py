"""The operators: arithmetic, `&`, comparisons and three-valued `&&`/`||`/`!`, checked at compile time.

Blank numbers propagate (blank + 1 is blank); text treats blank as empty; a comparison with a blank
number or date is blank, and a validation rule whose formula is blank does not fire.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, DecimalException
from typing import Any

from bridge.formula.compiled import Checker, Compiled, Thunk
from bridge.formula.context import FormulaContext
from bridge.formula.errors import NotEvaluable
from bridge.formula.kinds import ANY, BOOLEAN, DATE, DATETIME, LABELS, MULTIPICKLIST, NULL, NUMBER, PICKLIST, TEXT
from bridge.formula.syntax import Binary, Unary

N, T, B, D, DT = NUMBER, TEXT, BOOLEAN, DATE, DATETIME
_RESULTS: dict[str, dict[tuple[str, str], str]] = {
    "+": {(N, N): N, (D, N): D, (N, D): D, (DT, N): DT, (N, DT): DT, (T, T): T},
    "-": {(N, N): N, (D, N): D, (D, D): N, (DT, N): DT, (DT, DT): N},
    "*": {(N, N): N},
    "/": {(N, N): N},
    "^": {(N, N): N},
    "&": {(T, T): T},
    "=": {(k, k): B for k in (T, N, B, D, DT)},
    "!=": {(k, k): B for k in (T, N, B, D, DT)},
    **{op: {(k, k): B for k in (T, N, D, DT)} for op in ("<", "<=", ">", ">=")},
    "&&": {(B, B): B},
    "||": {(B, B): B},
}
_UNKNOWN = (ANY, NULL)


def value_class(value: Any) -> type:
    """The formula type of a runtime value (`bool` before numbers, `datetime` before `date`)."""
    for cls in (bool, Decimal, str, datetime, date):
        if isinstance(value, cls):
            return cls
    raise NotEvaluable(f"unsupported value {value!r}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise NotEvaluable(f"expected text, got {value!r}")


def _days(value: Decimal) -> timedelta:
    return timedelta(days=float(value))


def add(a: Any, b: Any) -> Any:
    """`+`: numbers, date + days, or text concatenation."""
    if isinstance(a, str) or isinstance(b, str):
        return _text(a) + _text(b)
    if a is None or b is None:
        return None
    if isinstance(a, Decimal) and not isinstance(b, Decimal):
        a, b = b, a
    if isinstance(b, Decimal) and value_class(a) is Decimal:
        return a + b
    if isinstance(b, Decimal) and isinstance(a, datetime):
        return a + _days(b)
    if isinstance(b, Decimal) and isinstance(a, date):
        return a + timedelta(days=int(b))
    raise NotEvaluable(f"cannot add {a!r} and {b!r}")


def subtract(a: Any, b: Any) -> Any:
    """`-`: numbers, date - days, or the days between two dates."""
    if a is None or b is None:
        return None
    kinds = (value_class(a), value_class(b))
    if kinds == (Decimal, Decimal):
        return a - b
    if kinds == (datetime, datetime):
        return Decimal(str((a - b).total_seconds())) / 86400
    if kinds == (date, date):
        return Decimal((a - b).days)
    if kinds == (datetime, Decimal):
        return a - _days(b)
    if kinds == (date, Decimal):
        return a - timedelta(days=int(b))
    raise NotEvaluable(f"cannot subtract {b!r} from {a!r}")


def _numeric(impl: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Any, Any], Decimal | None]:
    def run(a: Any, b: Any) -> Decimal | None:
        if a is None or b is None:
            return None
        if value_class(a) is not Decimal or value_class(b) is not Decimal:
            raise NotEvaluable(f"expected numbers, got {a!r} and {b!r}")
        try:
            return impl(a, b)
        except (DecimalException, ZeroDivisionError, OverflowError) as exc:
            raise NotEvaluable(f"arithmetic error: {exc!r}") from exc

    return run


def concat(a: Any, b: Any) -> str:
    """`&`: text concatenation; blank is empty."""
    return _text(a) + _text(b)


def _comparable(a: Any, b: Any) -> bool:
    if value_class(a) is not value_class(b):
        raise NotEvaluable(f"cannot compare {a!r} with {b!r}")
    return True


def _comparison(compare: Callable[[Any, Any], bool], text: bool) -> Callable[[Any, Any], bool | None]:
    def run(a: Any, b: Any) -> bool | None:
        if text or isinstance(a, str) or isinstance(b, str):
            return compare(_text(a), _text(b))
        if a is None or b is None:
            return None
        return _comparable(a, b) and compare(a, b)

    return run


def truth(value: Any) -> bool | None:
    """A logical operand: `True`, `False` or blank."""
    if value is None or isinstance(value, bool):
        return value
    raise NotEvaluable(f"expected true or false, got {value!r}")


def conjunction(runs: tuple[Thunk, ...]) -> Thunk:
    """Three-valued AND: false wins, then blank, then true; stops at the first false."""

    def run(context: FormulaContext) -> bool | None:
        unknown = False
        for item in runs:
            value = truth(item(context))
            if value is False:
                return False
            unknown = unknown or value is None
        return None if unknown else True

    return run


def disjunction(runs: tuple[Thunk, ...]) -> Thunk:
    """Three-valued OR: true wins, then blank, then false; stops at the first true."""

    def run(context: FormulaContext) -> bool | None:
        unknown = False
        for item in runs:
            value = truth(item(context))
            if value is True:
                return True
            unknown = unknown or value is None
        return None if unknown else False

    return run


def negation(value: Any) -> bool | None:
    """NOT / `!`: blank stays blank."""
    truthy = truth(value)
    return None if truthy is None else not truthy


def negative(value: Any) -> Decimal | None:
    """Unary minus."""
    if value is None:
        return None
    if value_class(value) is not Decimal:
        raise NotEvaluable(f"expected a number, got {value!r}")
    return Decimal(-value)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "-": subtract,
    "*": _numeric(operator.mul),
    "/": _numeric(operator.truediv),
    "^": _numeric(operator.pow),
    "&": concat,
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _result_kind(node: Binary, left: Compiled, right: Compiled, checker: Checker) -> str:
    table = _RESULTS[node.op]
    for side in (left, right):
        if side.kind in (PICKLIST, MULTIPICKLIST):
            name = side.field or "value"
            raise checker.error(
                f"Field {name} is a picklist field. Picklist fields are only supported in certain functions.", node
            )
    if (left.kind, right.kind) in table:
        return table[(left.kind, right.kind)]
    known = [side.kind for side in (left, right) if side.kind not in _UNKNOWN]
    results = {result for pair, result in table.items() if all(kind in pair for kind in known)}
    if (known and not results) or len(known) == 2:
        wanted = ", ".join(dict.fromkeys(LABELS[kind] for pair in table for kind in pair))
        got = ", ".join(LABELS[kind] for kind in (left.kind, right.kind))
        raise checker.error(
            f"Incorrect parameter type for operator '{node.op}'. Expected {wanted}, received {got}", node
        )
    return results.pop() if len(results) == 1 else ANY


def compile_binary(node: Binary, left: Compiled, right: Compiled, checker: Checker) -> Compiled:
    """Check the operand kinds of `node` and build its closure."""
    kind = _result_kind(node, left, right, checker)
    if node.op == "&&":
        return Compiled(conjunction((left.run, right.run)), BOOLEAN)
    if node.op == "||":
        return Compiled(disjunction((left.run, right.run)), BOOLEAN)
    if node.op in _COMPARISONS:
        impl = _comparison(_COMPARISONS[node.op], TEXT in (left.kind, right.kind))
    else:
        impl = _ARITHMETIC[node.op]
    first, second = left.run, right.run
    return Compiled(lambda context: impl(first(context), second(context)), kind)


def compile_unary(node: Unary, operand: Compiled, checker: Checker) -> Compiled:
    """`-x` needs a number, `!x` a boolean."""
    kind = NUMBER if node.op == "-" else BOOLEAN
    if operand.kind not in (kind, *_UNKNOWN):
        raise checker.error(
            f"Incorrect parameter type for operator '{node.op}'. Expected {LABELS[kind]}, "
            f"received {LABELS[operand.kind]}",
            node,
        )
    impl = negative if node.op == "-" else negation
    run = operand.run
    return Compiled(lambda context: impl(run(context)), kind)
