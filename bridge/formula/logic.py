"""Logical and record-state functions: AND, OR, NOT, IF, CASE, the blank tests, ISNEW, ISCHANGED, PRIORVALUE,
ISPICKVAL and INCLUDES."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.formula.compiled import Builder, Checker, Compiled, Thunk, spec
from bridge.formula.context import FormulaContext, field_value, prior_value
from bridge.formula.kinds import ALL_KINDS, ANY, BOOLEAN, MULTIPICKLIST, NULL, PICKLIST, TEXT, is_blank
from bridge.formula.operators import conjunction, disjunction, negation, truth
from bridge.formula.syntax import Call

_BOOLEAN = (BOOLEAN,)
_TEXT_LIKE = frozenset({TEXT, PICKLIST, MULTIPICKLIST})


def _logical(combine: Callable[[tuple[Thunk, ...]], Thunk]) -> Builder:
    def build(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
        checker.arity(call, 1, None)
        checker.expect_all(call, args, [_BOOLEAN])
        return Compiled(combine(tuple(arg.run for arg in args)), BOOLEAN)

    return build


def common_kind(call: Call, branches: list[Compiled], checker: Checker) -> str:
    """The kind of a value chosen among `branches`, which must agree (blank and unknown agree with all)."""
    known = {branch.kind for branch in branches} - {ANY, NULL}
    if len(known) > 1:
        raise checker.error(
            f"Incorrect parameter type for function '{call.name}()': the results mix {' and '.join(sorted(known))}",
            call,
        )
    return known.pop() if known else ANY


def _if(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 3, 3)
    checker.expect(call, 0, args[0], _BOOLEAN)
    condition, then, otherwise = (arg.run for arg in args)

    def run(context: FormulaContext) -> Any:
        return then(context) if truth(condition(context)) else otherwise(context)

    return Compiled(run, common_kind(call, args[1:], checker))


def _matches(key: Any, candidate: Any, text: bool) -> bool:
    if text or isinstance(key, str) or isinstance(candidate, str):
        return ("" if key is None else key) == ("" if candidate is None else candidate)
    return key is not None and key == candidate


def _case(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 4, None)
    if len(args) % 2:
        raise checker.error(
            "Incorrect number of parameters for function 'CASE()': expected an expression, "
            "value/result pairs and an else result",
            call,
        )
    subject, *rest = args
    text = subject.kind in _TEXT_LIKE
    pairs = tuple((rest[i].run, rest[i + 1].run) for i in range(0, len(rest) - 1, 2))
    fallback = rest[-1].run
    kind = common_kind(call, [*rest[1::2], rest[-1]], checker)

    def run(context: FormulaContext) -> Any:
        key = subject.run(context)
        for value, result in pairs:
            if _matches(key, value(context), text):
                return result(context)
        return fallback(context)

    return Compiled(run, kind)


def _isnull(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 1, 1)
    if args[0].kind == TEXT:
        # Salesforce: "Text fields are never null, so using ISNULL() with a text field always returns false."
        return Compiled(lambda context: False, BOOLEAN)
    run = args[0].run
    return Compiled(lambda context: is_blank(run(context)), BOOLEAN)


def _substitute_blank(text_is_never_null: bool) -> Builder:
    def build(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
        checker.arity(call, 2, 2)
        kind = common_kind(call, args, checker)
        value, substitute = args[0].run, args[1].run
        if text_is_never_null and args[0].kind == TEXT:
            return Compiled(value, kind)

        def run(context: FormulaContext) -> Any:
            found = value(context)
            return substitute(context) if is_blank(found) else found

        return Compiled(run, kind)

    return build


def _isnew(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 0, 0)
    return Compiled(lambda context: context.is_new, BOOLEAN)


def _field_argument(call: Call, args: list[Compiled], checker: Checker) -> tuple[str, Callable[[Any], Any]]:
    checker.arity(call, 1, 1)
    path, read = args[0].field, args[0].read
    if path is None or read is None:
        raise checker.error(f"Function '{call.name}()' requires a field as its parameter", call.args[0])
    return path, read


def _ischanged(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    path, read = _field_argument(call, args, checker)

    def run(context: FormulaContext) -> bool:
        if context.is_new:
            return False
        return bool(read(field_value(context, path)) != read(prior_value(context, path)))

    return Compiled(run, BOOLEAN)


def _priorvalue(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    path, read = _field_argument(call, args, checker)
    return Compiled(lambda context: read(prior_value(context, path)), args[0].kind)


def _ispickval(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 2, 2)
    if args[0].kind not in (PICKLIST, ANY):
        raise checker.error("Function 'ISPICKVAL()' may only be used with picklist fields", call.args[0])
    checker.expect(call, 1, args[1], (TEXT,))
    return spec(lambda a, b: (a or "") == (b or ""), BOOLEAN, (PICKLIST,), (TEXT,))(call, args, checker)


def _includes(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 2, 2)
    if args[0].kind not in (MULTIPICKLIST, ANY):
        raise checker.error("Function 'INCLUDES()' may only be used with multi-select picklist fields", call.args[0])
    checker.expect(call, 1, args[1], (TEXT,))
    return spec(lambda a, b: bool(b) and b in (a or "").split(";"), BOOLEAN, (MULTIPICKLIST,), (TEXT,))(
        call, args, checker
    )


FUNCTIONS: dict[str, Builder] = {
    "AND": _logical(conjunction),
    "OR": _logical(disjunction),
    "NOT": spec(negation, BOOLEAN, _BOOLEAN),
    "IF": _if,
    "CASE": _case,
    "ISBLANK": spec(is_blank, BOOLEAN, ALL_KINDS),
    "ISNULL": _isnull,
    "BLANKVALUE": _substitute_blank(text_is_never_null=False),
    "NULLVALUE": _substitute_blank(text_is_never_null=True),
    "ISNEW": _isnew,
    "ISCHANGED": _ischanged,
    "PRIORVALUE": _priorvalue,
    "ISPICKVAL": _ispickval,
    "INCLUDES": _includes,
}
