"""REGEX(): Java patterns translated for the `regex` package, whole-string matching, and what is refused."""

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
        (r"[a-z&&[^aeiou]]+", "bcd", True),  # class intersection
        (r"[a-z&&[^aeiou]]+", "bad", False),
        (r"[a[bc]]+", "abc", True),  # nested class: a union
        (r"[^a[bc]]", "b", False),  # JDK 9+: ^ negates the nested class too
        (r"[]a]+", "]a", True),  # ']' first is a literal
        (r"\p{L}+", "Müller", True),
        (r"\p{Lu}\p{Ll}+", "Žižek", True),
        (r"\p{InGreek}+", "αβγ", True),
        (r"\p{IsLatin}+", "café", True),
        (r"\p{Sc}\d+", "€12", True),
        (r"\p{N}+", "١٢٣", True),
        (r"[\P{Alpha}]+", "12", True),
        (r"\x41\x{263A}", "A\u263a", True),
        (r"[^\x00-\x7F]+", "北京", True),
        (r"\cA", "\x01", True),
        (r"a(?i)b", "aB", True),
        (r"(a(?i)b)c", "aBC", False),  # an inline flag ends with its group
        (r"(?i)müller", "MÜLLER", False),  # Java folds ASCII only, unless (?u)
        (r"(?iu)müller", "MÜLLER", True),
        (r"(?U)\w+", "café", True),
        (r"\G\d", "1", True),
        (r"\R", "\r\n", True),
        (r"\X", "e\u0301", True),
        (r"[\h]+", " \t", True),
        (r".", "\u2028", False),  # Java's line terminators, not only \n
        (r"(?m)^$", "", False),  # Java never matches a multiline ^ at the end of input
    ],
)
def test_translated_patterns(pattern: str, text: str, matches: bool) -> None:
    assert (compile_java(pattern).fullmatch(text) is not None) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        r"\b{g}",  # grapheme boundaries: no translation
        r"(?c)e",  # canonical equivalence: no translation
        r"\p{NoSuchProperty}",
        r"\q",
        r"*a",
        r"a{,3}",
        r"[a-z",
        r"[z-a]",
        r"(?<1a>x)",
        r"\k<missing>",
        r"\x{110000}",
        "abc\\",
        r"(unclosed",
        r"\k<x",
    ],
)
def test_java_only_syntax_is_not_evaluable(pattern: str) -> None:
    with pytest.raises(NotEvaluable, match="REGEX"):
        compile_java(pattern)


def test_translation_spells_java_sets_out() -> None:
    assert translate(r"\d") == "[0-9]"  # ASCII-only, whatever the text's script
    assert translate(r"(?i)k") == r"[\U0000006b\U0000004b]"  # ASCII folding: no Kelvin sign


def test_literal_pattern_is_checked_when_the_rule_is_compiled() -> None:
    with pytest.raises(NotEvaluable, match="REGEX"):
        compile_formula(r'REGEX(Name, "[a-z")')


def test_pattern_from_a_field_is_compiled_at_run_time() -> None:
    formula = compile_formula("REGEX(Name, Description)", {"Name": "string", "Description": "textarea"})
    assert formula.evaluate(FormulaContext({"Name": "abc", "Description": "[a-c]+"})) is True
    assert formula.evaluate(FormulaContext({"Name": "abd", "Description": "[a-c]+"})) is False
    with pytest.raises(NotEvaluable):
        formula.evaluate(FormulaContext({"Name": "abc", "Description": r"\b{g}"}))


def test_a_pattern_that_backtracks_without_end_is_not_evaluable_and_does_not_stall() -> None:
    formula = compile_formula(r'REGEX(Name, "(a|aa)+b")', {"Name": "string"})
    with pytest.raises(NotEvaluable, match="took over"):
        formula.evaluate(FormulaContext({"Name": "a" * 60}))
