"""The shared vocabulary of compilation: a compiled expression, and the checker that reports type errors.

Each expression compiles to a closure over the `FormulaContext` plus its static kind, so type errors surface
when the rule is compiled, not when a record arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from bridge.formula.context import FormulaContext
from bridge.formula.errors import FormulaError
from bridge.formula.kinds import ANY, LABELS, MULTIPICKLIST, NULL, NUMBER, PICKLIST, READERS, kind_of_describe
from bridge.formula.syntax import Call, Node

Thunk = Callable[[FormulaContext], Any]


class Compiled(NamedTuple):
    """A compiled expression: `run(context) -> value`, its kind, and for a bare field its path and how its raw
    values are read (ISCHANGED and PRIORVALUE read the prior value the same way)."""

    run: Thunk
    kind: str
    field: str | None = None
    read: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class Checker:
    """Raises the org's compile-time errors with the position of the offending node."""

    text: str
    blank_as_zero: bool = False

    def reader(self, describe_type: str | None) -> Callable[[Any], Any]:
        """How a raw field value is read: a percent is a fraction in formulas (the API's 10 is 0.1), and numbers
        may treat blank as zero, as the rule's settings say."""
        read = READERS[kind_of_describe(describe_type)]
        scale = Decimal("0.01") if (describe_type or "").lower() == "percent" else None
        zero = Decimal(0) if self.blank_as_zero else None
        if kind_of_describe(describe_type) != NUMBER or (scale is None and zero is None):
            return read

        def read_number(value: Any) -> Any:
            number = read(value)
            if number is None:
                return zero
            return number * scale if scale is not None else number

        return read_number

    def error(self, message: str, node: Node) -> FormulaError:
        """A `FormulaError` pointing at `node`."""
        return FormulaError(message, position=node.position, text=self.text)

    def arity(self, call: Call, low: int, high: int | None) -> None:
        """Check the number of arguments of `call`; `high=None` means any number from `low`."""
        count = len(call.args)
        if count < low or (high is not None and count > high):
            expected = str(low) if high == low else f"{low} or more" if high is None else f"{low} to {high}"
            raise self.error(
                f"Incorrect number of parameters for function '{call.name}()'. Expected {expected}, received {count}",
                call,
            )

    def expect(self, call: Call, index: int, arg: Compiled, kinds: Collection[str]) -> None:
        """Check that argument `index` of `call` has one of `kinds` (unknown kinds pass until run time)."""
        if arg.kind in kinds or arg.kind in (ANY, NULL):
            return
        if arg.kind in (PICKLIST, MULTIPICKLIST) and arg.field is not None:
            raise self.error(
                f"Field {arg.field} is a picklist field. Picklist fields are only supported in certain functions.",
                call.args[index],
            )
        wanted = ", ".join(LABELS[kind] for kind in kinds)
        raise self.error(
            f"Incorrect parameter type for function '{call.name}()'. Expected {wanted}, received {LABELS[arg.kind]}",
            call.args[index],
        )

    def expect_all(self, call: Call, args: Sequence[Compiled], kinds: Sequence[Collection[str]]) -> None:
        """`expect` for each argument; the last entry of `kinds` applies to any further arguments."""
        for index, arg in enumerate(args):
            self.expect(call, index, arg, kinds[min(index, len(kinds) - 1)])


Builder = Callable[[Call, list[Compiled], Checker], Compiled]
"""Compiles one function call from its compiled arguments."""


def strict(impl: Callable[..., Any], kind: str, args: Sequence[Compiled]) -> Compiled:
    """A call that evaluates every argument, then applies `impl` to the values."""
    runs = tuple(arg.run for arg in args)
    if len(runs) == 1:
        (only,) = runs
        return Compiled(lambda context: impl(only(context)), kind)
    if len(runs) == 2:
        first, second = runs
        return Compiled(lambda context: impl(first(context), second(context)), kind)
    return Compiled(lambda context: impl(*(run(context) for run in runs)), kind)


def spec(impl: Callable[..., Any], result: str, *params: Collection[str], optional: int = 0) -> Builder:
    """A builder for a strict function with fixed parameters, the last `optional` of which may be left out."""

    def build(call: Call, args: list[Compiled], checker: Checker) -> Compiled:
        checker.arity(call, len(params) - optional, len(params))
        checker.expect_all(call, args, params)
        return strict(impl, result, args)

    return build
