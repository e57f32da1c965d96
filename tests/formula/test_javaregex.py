"""REGEX(): Java patterns translated to Python, whole-string matching, and what is refused."""

from __future__ import annotations

import pytest

from bridge.formula import FormulaContext, NotEvaluable, compile_formula
from bridge.formula.javaregex import compile_java, translate


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"\d{5}(-\d{4})?", "12345-6789", True),
        (r"\d{5}(-\d{4})?", "12345-", False),
        (r"\d+", "١٢٣", False),  # Java's \d is ASCII-only
        (r"\w+", "héllo", False),
        (r"(?i)acme", "ACME", True),
        (r"a(?i:b)c", "aBc", True),
        (r"(?<area>\d{3})-\k<area>", "555-555", True),
        (r"(?<area>\d{3})-\k<area>", "555-556", False),
        (r"(?<=a)b|ab", "ab", True),
        (r"\p{Upper}\p{Lower}+", "Acme", True),
        (r"\P{Digit}+", "abc", True),
        (r"\P{Digit}+", "ab1", False),
        (r"[\p{Alpha}_]+", "a_b", True),
        (r"\p{IsAlphabetic}+", "abc", True),
        (r"\Q(1+1)\E=2", "(1+1)=2", True),
        (r"\Q(1+1)", "(1+1)", True),
        (r"a++b", "aab", True),  # possessive quantifiers exist in Python 3.11
        (r"(?>a|ab)c", "abc", False),  # and so do atomic groups
        (r"end\z", "end", True),
        (r"\h+", " \t", True),
        (r"[^\d]+", "abc", True),
        (r"abc\\", "abc\\", True),
    ],
)
def test_translated_patterns(pattern: str, text: str, matches: bool) -> None:
    assert (compile_java(pattern).fullmatch(text) is not None) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        r"[a-z&&[^aeiou]]",
        r"[a[bc]]",
        r"\G\d",
        r"\R",
        r"\X",
        r"\p{InGreek}",
        r"\p{Lu}",
        r"a(?i)b",
        r"(?u)abc",
        r"[\h]",
        r"[\P{Alpha}]",
        r"\x{263A}",
        r"\cA",
        "abc\\",
        r"(unclosed",
        r"[]a]",
        r"\k<x",
    ],
)
def test_java_only_syntax_is_not_evaluable(pattern: str) -> None:
    with pytest.raises(NotEvaluable, match="REGEX"):
        compile_java(pattern)


def test_translation_keeps_ordinary_syntax() -> None:
    assert translate(r"^[A-Z]{2}-\d+(?:\.\d+)?$") == r"^[A-Z]{2}-\d+(?:\.\d+)?$"


def test_literal_pattern_is_checked_when_the_rule_is_compiled() -> None:
    with pytest.raises(NotEvaluable, match="REGEX"):
        compile_formula(r'REGEX(Name, "[a-z&&[^e]]+")')


def test_pattern_from_a_field_is_compiled_at_run_time() -> None:
    formula = compile_formula("REGEX(Name, Description)", {"Name": "string", "Description": "textarea"})
    assert formula.evaluate(FormulaContext({"Name": "abc", "Description": "[a-c]+"})) is True
    assert formula.evaluate(FormulaContext({"Name": "abd", "Description": "[a-c]+"})) is False
    with pytest.raises(NotEvaluable):
        formula.evaluate(FormulaContext({"Name": "abc", "Description": r"\G"}))
