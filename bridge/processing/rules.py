"""Compiling the org's validation rules into checks the validator runs; the formula engine is injected.

compiled = compile_rules(org_rules, objects, compiler=formula_compiler(environment))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bridge.formula import FormulaContext, FormulaError, NotEvaluable, compile_formula
from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta
from bridge.processing.validation import CompiledRule, RuleNotEvaluable

RuleCompiler = Callable[[ValidationRuleMeta, Mapping[str, str]], CompiledRule]
"""`compiler(rule, field_types) -> CompiledRule`; field_types maps field API names to describe types."""


def unevaluated(rule: ValidationRuleMeta, field_types: Mapping[str, str]) -> CompiledRule:
    """A compiler for when no formula engine is configured: every rule is reported as not evaluable."""
    return CompiledRule(rule, frozenset(), None, "no formula evaluator is configured")


def compile_rules(
    rules: Mapping[str, list[ValidationRuleMeta]],
    objects: Mapping[str, SObjectMeta],
    compiler: RuleCompiler = unevaluated,
) -> dict[str, tuple[CompiledRule, ...]]:
    """Every active rule of the SObjects in `objects`, compiled once at start-up."""
    compiled: dict[str, tuple[CompiledRule, ...]] = {}
    for sobject, items in rules.items():
        meta = objects.get(sobject)
        if meta is None:
            continue
        field_types = {name: field.type for name, field in meta.fields.items()}
        compiled[sobject] = tuple(compiler(rule, field_types) for rule in items if rule.active)
    return compiled


def _canonical_fields(fields: frozenset[str], field_types: Mapping[str, str]) -> frozenset[str]:
    """Field names as describe spells them, so the validator's "which fields do we know" check matches."""
    by_folded = {name.casefold(): name for name in field_types}
    return frozenset(by_folded.get(name.casefold(), name) for name in fields)


def formula_compiler(
    merge: Mapping[str, Mapping[str, Any]],
    *,
    clock: Callable[[], datetime] | None = None,
    blank_as_zero: bool = False,
) -> RuleCompiler:
    """A compiler that evaluates rules with `bridge.formula`; a rule is violated when its formula is TRUE.

    `merge` holds the global merge fields the integration user sees (`$User`, `$Profile`, `$Setup`, ...);
    `clock` returns the current UTC time for TODAY() and NOW() (without it those rules are not evaluable).
    """

    def compile_one(rule: ValidationRuleMeta, field_types: Mapping[str, str]) -> CompiledRule:
        try:
            formula = compile_formula(rule.formula, field_types, blank_as_zero=blank_as_zero)
        except FormulaError as exc:
            return CompiledRule(rule, frozenset(), None, f"formula error: {exc}")
        except NotEvaluable as exc:
            return CompiledRule(rule, frozenset(), None, str(exc))

        def check(record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool) -> bool:
            now = clock() if clock is not None else None
            context = FormulaContext(record, prior, is_new, merge, now.date() if now else None, now)
            try:
                return formula.evaluate(context) is True
            except NotEvaluable as exc:
                raise RuleNotEvaluable(str(exc)) from exc

        return CompiledRule(rule, _canonical_fields(formula.fields, field_types), check)

    return compile_one
