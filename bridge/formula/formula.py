"""A compiled formula and the one entry point that builds it.

formula = compile_formula("AND(ISPICKVAL(StageName, 'Closed Won'), ISBLANK(Amount))",
                          {"StageName": "picklist", "Amount": "currency"})
formula.fields                                    # frozenset({'StageName', 'Amount'})
formula.evaluate(FormulaContext(record={"StageName": "Closed Won", "Amount": None}))   # True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.formula.compiled import Compiled
from bridge.formula.compiler import Compiler, run_checked
from bridge.formula.context import FormulaContext
from bridge.formula.errors import NotEvaluable
from bridge.formula.parser import parse


@dataclass(frozen=True, slots=True)
class Formula:
    """A formula ready to evaluate: its text, the record fields it reads (as written) and its result kind.

    Results are `Decimal` for numbers, `str` or `None` for text, `bool` (or `None` when a comparison met a
    blank), `date` and `datetime`.
    """

    text: str
    fields: frozenset[str]
    kind: str
    compiled: Compiled = field(repr=False)

    def evaluate(self, context: FormulaContext) -> Any:
        """The value of the formula for `context`; raises `NotEvaluable` when data it needs is absent."""
        return run_checked(self.compiled, context)


def compile_formula(text: str, field_types: Mapping[str, str] | None = None, *, blank_as_zero: bool = False) -> Formula:
    """Parse and type-check `text` once.

    `field_types` maps field API names to describe types (`currency`, `picklist`, ...); with them, type errors
    are reported now, as the org would when saving the rule. `blank_as_zero` is the "treat blank fields as
    zeroes" setting. Raises `FormulaError` (syntax or type, with line and column) or `NotEvaluable`
    (a function or construct this engine does not support).
    """
    compiler = Compiler(text, field_types or {}, blank_as_zero=blank_as_zero)
    try:
        compiled = compiler.compile(parse(text))
    except RecursionError as exc:
        raise NotEvaluable("the formula nests too deeply to compile locally") from exc
    return Formula(text, frozenset(compiler.fields), compiled.kind, compiled)
