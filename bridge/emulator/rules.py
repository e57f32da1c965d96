"""Validation rules: formulas compiled once with `bridge.formula` and evaluated per record before a save.

A rule fires when its formula is TRUE; the save fails with FIELD_CUSTOM_VALIDATION_EXCEPTION and the rule's
message on its error field. Rules the formula engine cannot evaluate are skipped and listed in `unevaluable`,
so an emulated org never rejects a record for a reason the real org would not have.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from bridge.emulator.profile import ObjectSpec, ValidationRuleSpec
from bridge.emulator.results import SaveError


def _formula_module() -> ModuleType | None:
    # Imported by name: the formula engine is optional for the emulator (rules are skipped without it).
    try:
        return importlib.import_module("bridge.formula")
    except ImportError:
        return None


class ValidationRules:
    """The active rules per sObject, compiled on first use."""

    def __init__(
        self, rules: Iterable[ValidationRuleSpec], objects: Mapping[str, ObjectSpec], clock: Callable[[], float]
    ) -> None:
        self._clock = clock
        self._rules: dict[str, list[ValidationRuleSpec]] = {}
        for rule in rules:
            if rule.active:
                self._rules.setdefault(rule.sobject, []).append(rule)
        self._objects = objects
        self._compiled: dict[str, Any] = {}
        self.unevaluable: dict[str, str] = {}
        self._module = _formula_module()

    def _compile(self, rule: ValidationRuleSpec) -> Any:
        if rule.name in self._compiled or self._module is None:
            return self._compiled.get(rule.name)
        spec = self._objects[rule.sobject]
        field_types = {name: f.type for name, f in spec.fields.items()}
        try:
            compiled = self._module.compile_formula(rule.formula, field_types)
        except (self._module.FormulaError, self._module.NotEvaluable) as exc:
            self.unevaluable[rule.name] = str(exc)
            compiled = None
        self._compiled[rule.name] = compiled
        return compiled

    def check(
        self,
        sobject: str,
        after: Mapping[str, Any],
        before: Mapping[str, Any] | None,
        merge: Mapping[str, Any],
    ) -> list[SaveError]:
        """FIELD_CUSTOM_VALIDATION_EXCEPTION for every rule that fires on this record."""
        module = self._module
        if module is None:
            return []
        errors: list[SaveError] = []
        if not self._rules.get(sobject):
            return errors
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        context = module.FormulaContext(
            record=after, prior=before, is_new=before is None, merge=merge, today=now.date(), now=now
        )
        for rule in self._rules.get(sobject, ()):
            compiled = self._compile(rule)
            if compiled is None:
                continue
            try:
                fired = compiled.evaluate(context)
            except (module.FormulaError, module.NotEvaluable) as exc:
                self.unevaluable[rule.name] = str(exc)
                continue
            if fired is True:
                fields = (rule.field,) if rule.field else ()
                errors.append(SaveError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, fields))
        return errors
