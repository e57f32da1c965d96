"""Parsing: precedence and associativity, literals, comments, and errors that point at line and column."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.formula import FormulaError, compile_formula
from bridge.formula.parser import parse
from bridge.formula.syntax import Binary, Call, FieldRef, Literal, MergeRef, Node, Unary


def show(node: Node) -> str:
    """Fully parenthesised text of a tree, to assert on structure."""
    if isinstance(node, Literal):
        return repr(node.value) if not isinstance(node.value, Decimal) else str(node.value)
    if isinstance(node, FieldRef | MergeRef):
        return node.path
    if isinstance(node, Unary):
        return f"({node.op}{show(node.operand)})"
    if isinstance(node, Binary):
        return f"({show(node.left)} {node.op} {show(node.right)})"
    assert isinstance(node, Call)
    return f"{node.name}({', '.join(show(arg) for arg in node.args)})"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
        ("-2 ^ 2", "(-(2 ^ 2))"),
        ("-a * b", "((-a) * b)"),
        ("a & b = c", "((a & b) = c)"),
        ("a + b & c", "((a + b) & c)"),
        ("a < b = c > d", "((a < b) = (c > d))"),
        ("a = b && c <> d || e", "(((a = b) && (c != d)) || e)"),
        ("a || b && c", "(a || (b && c))"),
        ("!a && b", "((!a) && b)"),
        ("a == b", "(a = b)"),
        ("+1", "1"),
        ("and(a, b)", "AND(a, b)"),
        ("IsNew()", "ISNEW()"),
        ("Account.Owner.Name", "Account.Owner.Name"),
        ("$Setup.Integration_Bypass__c.All__c", "$Setup.Integration_Bypass__c.All__c"),
        ("true || False || null", "((True || False) || None)"),
        ("/* a comment */ 1 /* another\nline */ + .5", "(1 + 0.5)"),
        ('\'it\\\'s\' & "say \\"hi\\"\\n"', '("it\'s" & \'say "hi"\\n\')'),
    ],
)
def test_precedence_and_literals(text: str, tree: str) -> None:
    assert show(parse(text)) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty (line 1, column 1)"),
        ("1 +", "unexpected end of formula (line 1, column 4)"),
        ("AND(a,, b)", "unexpected ',' (line 1, column 7)"),
        ("AND(a b)", "expected ',' or ')', found 'b' (line 1, column 7)"),
        ("(1 + 2", "expected ')', found end of formula (line 1, column 7)"),
        ("1 2", "extra '2' (line 1, column 3)"),
        ("'abc", "Unterminated string literal (line 1, column 1)"),
        ("AND(\n  a,\n  # b)", "Unexpected character '#' (line 3, column 3)"),
        ("'a\\qb'", "Invalid escape sequence \\q in a string (line 1, column 3)"),
        ("1 /* open", "Unterminated comment (line 1, column 3)"),
        ("Account.Name(1)", "'Account.Name' is not a function (line 1, column 1)"),
        ("$User + 1", "incomplete merge field '$User' (line 1, column 1)"),
    ],
)
def test_syntax_errors_carry_position(text: str, message: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(text)
    assert str(caught.value).endswith(message)
    assert caught.value.position is not None
    assert not caught.value.retryable
