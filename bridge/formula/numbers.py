"""Number functions: ABS, ROUND, FLOOR, CEILING, MAX, MIN, MOD, SQRT, EXP, LN, LOG; blank in, blank out.

Salesforce rounds half away from zero, FLOOR goes towards zero and CEILING away from zero for negatives.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, DecimalException
from typing import Any

from bridge.formula.compiled import Builder, Checker, Compiled, strict
from bridge.formula.errors import NotEvaluable
from bridge.formula.kinds import NUMBER
from bridge.formula.operators import value_class
from bridge.formula.syntax import Call

_N = (NUMBER,)
_ONE = Decimal(1)


def _numbers(impl: Callable[..., Decimal]) -> Callable[..., Decimal | None]:
    def run(*values: Any) -> Decimal | None:
        if any(value is None for value in values):
            return None
        if any(value_class(value) is not Decimal for value in values):
            raise NotEvaluable(f"expected numbers, got {values!r}")
        try:
            return impl(*values)
        except (DecimalException, ZeroDivisionError) as exc:
            raise NotEvaluable(f"arithmetic error: {exc!r}") from exc

    return run


def _round(value: Decimal, digits: Decimal) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)


def _floor(value: Decimal) -> Decimal:
    return value.quantize(_ONE, rounding=ROUND_DOWN)


def _ceiling(value: Decimal) -> Decimal:
    return value.quantize(_ONE, rounding=ROUND_UP)


def _mod(value: Decimal, divisor: Decimal) -> Decimal:
    if divisor == 0:
        raise NotEvaluable("MOD() by zero")
    return value % divisor


def _fixed(impl: Callable[..., Decimal], count: int) -> Builder:
    checked = _numbers(impl)

    def build(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
        checker.arity(call, count, count)
        checker.expect_all(call, args, [_N])
        return strict(checked, NUMBER, args)

    return build


def _extreme(pick: Callable[..., Decimal]) -> Builder:
    checked = _numbers(lambda *values: pick(values))

    def build(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
        checker.arity(call, 1, None)
        checker.expect_all(call, args, [_N])
        return strict(checked, NUMBER, args)

    return build


FUNCTIONS: dict[str, Builder] = {
    "ABS": _fixed(abs, 1),
    "ROUND": _fixed(_round, 2),
    "FLOOR": _fixed(_floor, 1),
    "CEILING": _fixed(_ceiling, 1),
    "MOD": _fixed(_mod, 2),
    "SQRT": _fixed(lambda value: value.sqrt(), 1),
    "EXP": _fixed(lambda value: value.exp(), 1),
    "LN": _fixed(lambda value: value.ln(), 1),
    "LOG": _fixed(lambda value: value.log10(), 1),
    "MAX": _extreme(max),
    "MIN": _extreme(min),
}
