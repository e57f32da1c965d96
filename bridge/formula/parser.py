"""A Pratt parser from tokens to the syntax tree, with Salesforce's operator precedence.

Precedence, loosest first: `||`, `&&`, `= == != <>`, `< <= > >=`, `&`, `+ -`, `* /`, unary `- !`, `^`.

    tree = parse("AND(ISPICKVAL(StageName, 'Closed Won'), ISBLANK(Amount))")
"""

from __future__ import annotations

from bridge.formula.errors import FormulaError
from bridge.formula.lexer import Token, tokenize
from bridge.formula.syntax import Binary, Call, FieldRef, Literal, MergeRef, Node, Unary

_INFIX: dict[str, int] = {
    "||": 1,
    "&&": 2,
    "=": 3,
    "==": 3,
    "!=": 3,
    "<>": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "&": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "^": 9,
}
_UNARY_POWER = 8
_RIGHT_ASSOCIATIVE = frozenset({"^"})
_CANONICAL = {"==": "=", "<>": "!="}
_CONSTANTS = {"TRUE": True, "FALSE": False, "NULL": None}


class _Parser:
    """State of one parse: the tokens and where we are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: Token) -> FormulaError:
        return FormulaError(message, position=token.position, text=self.text)

    def expect(self, op: str) -> Token:
        token = self.advance()
        if token.kind != "op" or token.value != op:
            raise self.fail(f"Syntax error: expected '{op}', found {_describe(token)}", token)
        return token

    def expression(self, min_power: int = 0) -> Node:
        left = self.prefix()
        while True:
            token = self.peek()
            power = _INFIX.get(token.value) if token.kind == "op" else None
            if power is None or power <= min_power:
                return left
            self.advance()
            right_power = power - 1 if token.value in _RIGHT_ASSOCIATIVE else power
            right = self.expression(right_power)
            op = _CANONICAL.get(token.value, token.value)
            left = Binary(op, left, right, token.position)

    def prefix(self) -> Node:
        token = self.advance()
        if token.kind in {"number", "string"}:
            return Literal(token.value, token.position)
        if token.kind == "name":
            return self.name(token)
        if token.kind == "op" and token.value in {"-", "+", "!"}:
            operand = self.expression(_UNARY_POWER)
            return operand if token.value == "+" else Unary(token.value, operand, token.position)
        if token.kind == "op" and token.value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        raise self.fail(f"Syntax error: unexpected {_describe(token)}", token)

    def name(self, token: Token) -> Node:
        name: str = token.value
        if self.peek().kind == "op" and self.peek().value == "(":
            if "." in name or name.startswith("$"):
                raise self.fail(f"Syntax error: '{name}' is not a function", token)
            return Call(name.upper(), self.arguments(), token.position)
        if name.upper() in _CONSTANTS:
            return Literal(_CONSTANTS[name.upper()], token.position)
        if name.startswith("$"):
            if "." not in name:
                raise self.fail(f"Syntax error: incomplete merge field '{name}'", token)
            return MergeRef(name, token.position)
        return FieldRef(name, token.position)

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if self.peek().kind == "op" and self.peek().value == ")":
            self.advance()
            return ()
        while True:
            args.append(self.expression())
            token = self.advance()
            if token.kind == "op" and token.value == ")":
                return tuple(args)
            if token.kind != "op" or token.value != ",":
                raise self.fail(f"Syntax error: expected ',' or ')', found {_describe(token)}", token)


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of formula"
    if token.kind == "string":
        return "a string"
    return f"'{token.value}'"


def parse(text: str) -> Node:
    """The syntax tree of `text`; raises `FormulaError` with the line and column of the first problem."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise parser.fail("Syntax error: the formula is empty", parser.peek())
    tree = parser.expression()
    trailing = parser.peek()
    if trailing.kind != "end":
        raise parser.fail(f"Syntax error: extra {_describe(trailing)}", trailing)
    return tree
