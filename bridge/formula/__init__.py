"""The Salesforce formula engine for validation rules: parse, type-check and evaluate, with no I/O.

from bridge.formula import compile_formula, FormulaContext
rule = compile_formula("AND(NOT($Setup.Integration_Bypass__c.All__c), LEN(Description) > 200)",
                       {"Description": "textarea"})
rule.evaluate(FormulaContext(record={"Description": "..."},
                             merge={"$Setup": {"Integration_Bypass__c": {"All__c": False}}}))
"""

from bridge.formula.context import FormulaContext
from bridge.formula.errors import FormulaError, NotEvaluable
from bridge.formula.formula import Formula, compile_formula

__all__ = ["Formula", "FormulaContext", "FormulaError", "NotEvaluable", "compile_formula"]
