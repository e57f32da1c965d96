"""Properties: printing a tree with minimal parentheses and parsing it back gives the same tree, and integer
arithmetic agrees with Python's."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.formula import FormulaContext, FormulaError, NotEvaluable, compile_formula
from bridge.formula.parser import parse
from bridge.formula.syntax import Binary, Call, FieldRef, Literal, Node, Unary
from tests.formula.test_parser import show

_POWER = {"||": 1, "&&": 2, "=": 3, "!=": 3, "<": 4, ">=": 4, "&": 5, "+": 6, "-": 6, "*": 7, "/": 7, "^": 9}
_UNARY = 8


def unparse(node: Node, parent: int = 0, *, tie: bool = False) -> str:
    """The text of `node` with only the parentheses needed; `tie` says an equal power needs them (associativity)."""
    if isinstance(node, Literal):
        return str(node.value) if isinstance(node.value, Decimal) else repr(node.value)
    if isinstance(node, FieldRef):
        return node.path
    if isinstance(node, Call):
        return f"{node.name}({', '.join(unparse(arg) for arg in node.args)})"
    if isinstance(node, Unary):
        text, power = f"{node.op}{unparse(node.operand, _UNARY)}", _UNARY
    else:
        assert isinstance(node, Binary)
        power = _POWER[node.op]
        left = unparse(node.left, power, tie=node.op == "^")
        text = f"{left} {node.op} {unparse(node.right, power, tie=node.op != '^')}"
    needs = power < parent or (power == parent and tie)
    return f"({text})" if needs else text


leaves = st.one_of(
    st.integers(0, 99).map(lambda n: Literal(Decimal(n), 0)),
    st.sampled_from(["Amount", "Name", "Account.Name"]).map(lambda name: FieldRef(name, 0)),
    st.text("ab '\"", max_size=3).map(lambda text: Literal(text, 0)),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(lambda op, a, b: Binary(op, a, b, 0), st.sampled_from(sorted(_POWER)), children, children),
        st.builds(lambda op, a: Unary(op, a, 0), st.sampled_from(["-", "!"]), children),
        st.builds(lambda args: Call("F", tuple(args), 0), st.lists(children, max_size=3)),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_unparse_then_parse_is_the_same_tree(tree: Node) -> None:
    assert show(parse(unparse(tree))) == show(tree)


def _python_value(numbers: list[int], ops: list[str]) -> int:
    """`n0 op0 n1 op1 ...` with * before + and -, left to right."""
    terms: list[int] = [numbers[0]]
    signs: list[str] = []
    for op, number in zip(ops, numbers[1:], strict=True):
        if op == "*":
            terms[-1] *= number
        else:
            terms.append(number)
            signs.append(op)
    total = terms[0]
    for sign, term in zip(signs, terms[1:], strict=True):
        total = total + term if sign == "+" else total - term
    return total


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_integer_arithmetic_agrees_with_python(data: st.DataObject) -> None:
    numbers = data.draw(st.lists(st.integers(0, 999), min_size=1, max_size=6))
    ops = data.draw(st.lists(st.sampled_from("+-*"), min_size=len(numbers) - 1, max_size=len(numbers) - 1))
    text = str(numbers[0]) + "".join(f" {op} {n}" for op, n in zip(ops, numbers[1:], strict=True))
    assert compile_formula(text).evaluate(FormulaContext({})) == Decimal(_python_value(numbers, ops))


_FUNCTIONS = [
    *("AND", "OR", "NOT", "IF", "CASE", "ISBLANK", "ISNULL", "BLANKVALUE", "NULLVALUE", "LEN", "TEXT", "VALUE"),
    *("CONTAINS", "BEGINS", "ISPICKVAL", "INCLUDES", "PRIORVALUE", "ISCHANGED", "REGEX", "MID", "FIND", "ROUND"),
    *("MOD", "MAX", "MIN", "DATE", "YEAR", "DAY", "DATEVALUE", "TODAY", "NOW", "ISNEW", "SUBSTITUTE", "LEFT"),
    *("ABS", "FLOOR", "CEILING", "ISNUMBER", "UPPER", "TRIM", "RIGHT", "MONTH"),
]
_ATOMS = [
    *("Name", "Amount", "StageName", "CloseDate", "IsActive__c", "Interests__c", "Custom__c", "Account.Name"),
    *("$User.Username", "$Setup.Bypass__c.All__c", "1", "0", "2.5", "'a'", "''", "'[a-z]+'", "TRUE", "NULL"),
]
_OPERATORS = ["+", "-", "*", "/", "^", "&", "=", "<>", "<", ">=", "&&", "||"]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5),
    st.text("ab;1-", max_size=4),
    st.sampled_from(["2024-02-29", "2024-02-29T10:00:00Z", "Closed Won", "a;b"]),
)


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    call = st.builds(
        lambda name, args: f"{name}({', '.join(args)})", st.sampled_from(_FUNCTIONS), st.lists(children, max_size=4)
    )
    binary = st.builds(lambda op, a, b: f"{a} {op} {b}", st.sampled_from(_OPERATORS), children, children)
    unary = st.builds(lambda op, a: f"{op}({a})", st.sampled_from(["-", "!"]), children)
    return st.one_of(call, binary, unary)


formulas = st.recursive(st.sampled_from(_ATOMS), _grow, max_leaves=10)


@settings(max_examples=400, deadline=None)
@given(
    formulas,
    st.dictionaries(st.sampled_from(["Name", "Amount", "StageName", "CloseDate", "Custom__c", "Account"]), _VALUES),
    st.booleans(),
)
def test_only_formula_errors_escape(text: str, record: dict[str, object], is_new: bool) -> None:
    """Whatever the formula and the values, the engine answers with a value, FormulaError or NotEvaluable."""
    types = {"Name": "string", "Amount": "currency", "StageName": "picklist", "CloseDate": "date"}
    types |= {"IsActive__c": "boolean", "Interests__c": "multipicklist"}
    try:
        formula = compile_formula(text, types)
    except (FormulaError, NotEvaluable):
        return
    context = FormulaContext(record, prior=record, is_new=is_new, merge={"$User": {"Username": "u"}})
    with contextlib.suppress(NotEvaluable):
        formula.evaluate(context)
