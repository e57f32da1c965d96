"""Compiling the org's validation rules into checks the validator runs; the formula engine is injected.

compiled = compile_rules(org_rules, objects, compiler=formula_compiler(environment))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta
from bridge.processing.validation import CompiledRule

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
