"""From syntax tree to closures: resolves field kinds from describe types, checks types, picks functions."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import regex

from bridge.formula import dates, logic, numbers, text
from bridge.formula.compiled import Builder, Checker, Compiled
from bridge.formula.context import FormulaContext, field_value, merge_value
from bridge.formula.errors import NotEvaluable
from bridge.formula.javaregex import compile_java
from bridge.formula.kinds import ANY, BOOLEAN, NULL, NUMBER, TEXT, kind_of_describe, to_any
from bridge.formula.operators import compile_binary, compile_unary
from bridge.formula.syntax import Binary, Call, FieldRef, Literal, MergeRef, Node, Unary

REGEX_TIMEOUT_S = 0.25  # catastrophic backtracking must not stall a worker; the org would judge it


def _regex(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
    checker.arity(call, 2, 2)
    checker.expect_all(call, args, [(TEXT,)])
    subject = args[0].run
    literal = call.args[1]
    if isinstance(literal, Literal) and isinstance(literal.value, str):
        pattern = compile_java(literal.value)  # Java-only syntax is reported when the rule is compiled
        return Compiled(lambda context: matches(pattern, subject(context)), BOOLEAN)
    dynamic = args[1].run
    cache: dict[str, regex.Pattern[str]] = {}

    def run(context: FormulaContext) -> bool:
        source = dynamic(context) or ""
        if source not in cache:
            cache[source] = compile_java(source)
        return matches(cache[source], subject(context))

    return Compiled(run, BOOLEAN)


def matches(pattern: regex.Pattern[str], text: str | None) -> bool:
    """Java's `matches()`; a pattern that backtracks past `REGEX_TIMEOUT_S` on this text is not decided here."""
    try:
        return pattern.fullmatch(text or "", timeout=REGEX_TIMEOUT_S) is not None
    except TimeoutError as exc:
        raise NotEvaluable(f"REGEX(): {pattern.pattern!r} took over {REGEX_TIMEOUT_S} s on this text") from exc


_FUNCTIONS: dict[str, Builder] = {
    **logic.FUNCTIONS,
    **text.FUNCTIONS,
    **numbers.FUNCTIONS,
    **dates.FUNCTIONS,
    "REGEX": _regex,
}
_LITERAL_KINDS: dict[type, str] = {Decimal: NUMBER, str: TEXT, bool: BOOLEAN, type(None): NULL}


class Compiler:
    """Compiles one formula; collects the record fields it references (as written) on the way."""

    def __init__(self, text: str, field_types: Mapping[str, str], *, blank_as_zero: bool = False) -> None:
        self.checker = Checker(text, blank_as_zero)
        self.types = {name.casefold(): describe_type for name, describe_type in field_types.items()}
        self.fields: set[str] = set()

    def compile(self, node: Node) -> Compiled:
        """The closure and kind of `node`."""
        if isinstance(node, Literal):
            value = node.value
            return Compiled(lambda context: value, _LITERAL_KINDS[type(value)])
        if isinstance(node, FieldRef):
            return self.field(node)
        if isinstance(node, MergeRef):
            path = node.path
            return Compiled(lambda context: to_any(merge_value(context, path)), ANY)
        if isinstance(node, Unary):
            return compile_unary(node, self.compile(node.operand), self.checker)
        if isinstance(node, Binary):
            return compile_binary(node, self.compile(node.left), self.compile(node.right), self.checker)
        return self.call(node)

    def field(self, node: FieldRef) -> Compiled:
        path = node.path
        self.fields.add(path)
        describe_type = self.types.get(path.casefold())
        read = self.checker.reader(describe_type)
        return Compiled(lambda context: read(field_value(context, path)), kind_of_describe(describe_type), path, read)

    def call(self, node: Call) -> Compiled:
        builder = _FUNCTIONS.get(node.name)
        if builder is None:
            raise NotEvaluable(f"the function {node.name}() is not supported by the local evaluator")
        return builder(node, [self.compile(arg) for arg in node.args], self.checker)


def run_checked(compiled: Compiled, context: FormulaContext) -> Any:
    """Run a compiled formula; Python errors from values of unexpected types become `NotEvaluable`."""
    try:
        return compiled.run(context)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise NotEvaluable(f"cannot evaluate with these values: {exc}") from exc
    except RecursionError as exc:
        raise NotEvaluable("the formula nests too deeply to evaluate locally") from exc
