"""Every validation rule of the emulator's default org profile compiles and is evaluable locally.

The issue-5 differential test (pre-validator against emulator) relies on this: a rule the engine cannot
evaluate would only ever be "not evaluable" on both sides.
"""

from __future__ import annotations

import pytest

from bridge.emulator.profile import Profile, ValidationRuleSpec, load_profile
from bridge.formula import FormulaContext, compile_formula

PROFILE: Profile = load_profile("default")


@pytest.mark.parametrize("rule", PROFILE.validation_rules, ids=lambda rule: rule.name)
def test_default_profile_rule_is_evaluable(rule: ValidationRuleSpec) -> None:
    spec = PROFILE.sobject(rule.sobject)
    assert spec is not None
    field_types = {name: field.type for name, field in spec.fields.items()}
    formula = compile_formula(rule.formula, field_types)
    merge = {"$Setup": {"Integration_Bypass__c": {"Validation_Rules__c": False, "All__c": False}}}
    record = dict.fromkeys(formula.fields)
    assert formula.evaluate(FormulaContext(record, merge=merge)) in (True, False, None)
