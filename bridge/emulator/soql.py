"""SOQL for the emulator: the grammar of a useful subset of the Salesforce Object Query Language, and its errors.

Running a parsed query over rows is `bridge.emulator.soql_eval.execute`. Errors are worded as the real API
words them: `MALFORMED_QUERY` with the row, column and unexpected token,
`INVALID_FIELD` ("No such column ..."), `INVALID_TYPE` ("sObject type ... is not supported").

    query = parse_soql("SELECT Id, Account.Name FROM Opportunity WHERE Amount > 100 ORDER BY Name LIMIT 10")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from bridge.errors import BridgeError

KEYWORDS = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS"),
        *("FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH", "FOR"),
        *("USING", "INCLUDES", "EXCLUDES"),
    }
)
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
DATE_LITERALS_N = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),:])""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


class SoqlError(BridgeError):
    """A query the API refuses; `error_code` is Salesforce's (`MALFORMED_QUERY`, `INVALID_FIELD`, ...)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def positioned(text: str, pos: int, detail: str) -> str:
    """The message body Salesforce gives for a query error: the offending line, a caret, row and column."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"


class Token(NamedTuple):
    """One lexical token; `kind` is a group name of `_TOKEN` or `eof`."""

    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class FieldRef:
    """A field path as written (`Account.Name` is `("Account", "Name")`) and where it starts."""

    path: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class CountOf:
    """`COUNT()` (field None) or `COUNT(field)` with an optional alias."""

    field: FieldRef | None
    alias: str | None
    pos: int


@dataclass(frozen=True)
class FieldsOf:
    """`FIELDS(ALL|STANDARD|CUSTOM)`."""

    kind: str
    pos: int


@dataclass(frozen=True)
class Literal:
    """A value in a condition; `kind` is string, number, boolean, null, date, datetime or date_literal."""

    kind: str
    value: Any
    pos: int


@dataclass(frozen=True)
class Comparison:
    """`field op value`, `field [NOT] IN (values)` or `field LIKE 'pattern'`."""

    field: FieldRef
    op: str
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    """`AND`/`OR` over two or more conditions, or `NOT` over one."""

    op: str
    items: tuple[Condition, ...]


Condition = Comparison | BoolOp
SelectItem = FieldRef | CountOf | FieldsOf


@dataclass(frozen=True)
class OrderItem:
    """One `ORDER BY` term; Salesforce puts nulls first when ascending and last when descending."""

    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class SoqlQuery:
    """A parsed query; `text` is kept for error messages that point into it."""

    text: str
    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: int
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None

    @property
    def is_count(self) -> bool:
        """True for `SELECT COUNT() FROM ...`, whose answer is only `totalSize`."""
        return any(isinstance(item, CountOf) and item.field is None for item in self.select)

    @property
    def is_aggregate(self) -> bool:
        """True when the query aggregates (no queryMore for those)."""
        return any(isinstance(item, CountOf) for item in self.select)


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an `eof` token; an unknown character is `MALFORMED_QUERY`."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", positioned(text, pos, f"unexpected token: '{text[pos]}'"))
        kind = match.lastgroup or "ws"
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def unquote(token: Token, text: str) -> str:
    """The value of a string literal; `\\%` and `\\_` keep their backslash for LIKE to see."""
    body = token.text[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code in "%_":
            out.append("\\" + code)
        elif code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 4
        elif code in _ESCAPES:
            out.append(_ESCAPES[code])
        else:
            detail = "Invalid string literal '" + token.text + "'. Illegal character sequence '\\" + code + "'"
            raise SoqlError("MALFORMED_QUERY", positioned(text, token.pos + index + 1, detail))
        index += 2
    return "".join(out)


class _Parser:
    """Recursive descent over the token list; every method consumes what it recognises."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def fail(self, token: Token | None = None) -> SoqlError:
        token = token or self.peek
        return SoqlError("MALFORMED_QUERY", positioned(self.text, token.pos, f"unexpected token: '{token.text}'"))

    def take(self) -> Token:
        token = self.peek
        self.index += 1
        return token

    def accept(self, *words: str) -> Token | None:
        token = self.peek
        if (token.kind == "ident" and token.upper in words) or (token.kind != "ident" and token.text in words):
            return self.take()
        return None

    def expect(self, *words: str) -> Token:
        token = self.accept(*words)
        if token is None:
            raise self.fail()
        return token

    def name(self) -> Token:
        token = self.peek
        if token.kind != "ident" or token.upper in KEYWORDS:
            raise self.fail()
        return self.take()

    def integer(self) -> int:
        token = self.peek
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail()
        return int(self.take().text)

    def query(self) -> SoqlQuery:
        self.expect("SELECT")
        select = [self.select_item()]
        while self.accept(","):
            select.append(self.select_item())
        self.expect("FROM")
        sobject = self.name()
        if "." in sobject.text:
            raise self.fail(sobject)
        where = self.condition() if self.accept("WHERE") else None
        order_by = self.order_by() if self.accept("ORDER") else ()
        limit = self.integer() if self.accept("LIMIT") else None
        offset = self.integer() if self.accept("OFFSET") else None
        if self.peek.kind != "eof":
            raise self.fail()
        return SoqlQuery(self.text, tuple(select), sobject.text, sobject.pos, where, order_by, limit, offset)

    def select_item(self) -> SelectItem:
        token = self.name()
        if token.upper == "COUNT" and self.accept("("):
            field = None if self.peek.text == ")" else self.field()
            self.expect(")")
            alias = (
                self.name().text
                if field is not None and self.peek.kind == "ident" and self.peek.upper not in KEYWORDS
                else None
            )
            return CountOf(field, alias, token.pos)
        if token.upper == "FIELDS" and self.accept("("):
            kind = self.expect("ALL", "STANDARD", "CUSTOM").upper
            self.expect(")")
            return FieldsOf(kind, token.pos)
        return FieldRef(tuple(token.text.split(".")), token.pos)

    def field(self) -> FieldRef:
        token = self.name()
        return FieldRef(tuple(token.text.split(".")), token.pos)

    def condition(self) -> Condition:
        # SOQL refuses `a AND b OR c`: one level of a condition uses a single connective.
        first = self.negation()
        connective = self.accept("AND", "OR")
        if connective is None:
            return first
        items = [first, self.negation()]
        while self.accept(connective.upper):
            items.append(self.negation())
        if self.peek.kind == "ident" and self.peek.upper in ("AND", "OR"):
            raise self.fail()
        return BoolOp(connective.upper, tuple(items))

    def negation(self) -> Condition:
        if self.accept("NOT"):
            return BoolOp("NOT", (self.negation(),))
        if self.accept("("):
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.field()
        if self.accept("NOT"):
            self.expect("IN")
            return Comparison(field, "NOT IN", self.value_list())
        if self.accept("IN"):
            return Comparison(field, "IN", self.value_list())
        if self.accept("LIKE"):
            token = self.peek
            if token.kind != "string":
                raise self.fail()
            return Comparison(field, "LIKE", (self.value(),))
        token = self.take()
        if token.kind != "op":
            raise self.fail(token)
        op = "!=" if token.text == "<>" else token.text
        return Comparison(field, op, (self.value(),))

    def value_list(self) -> tuple[Literal, ...]:
        self.expect("(")
        if self.peek.upper == "SELECT":
            raise SoqlError(
                "MALFORMED_QUERY", positioned(self.text, self.peek.pos, "semi-join subqueries are not supported")
            )
        values = [self.value()]
        while self.accept(","):
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def value(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", unquote(token, self.text), token.pos)
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number, token.pos)
        if token.kind in ("date", "datetime"):
            return Literal(token.kind, token.text, token.pos)
        if token.kind == "ident":
            return self.word_value(token)
        raise self.fail(token)

    def word_value(self, token: Token) -> Literal:
        word = token.upper
        if word in ("TRUE", "FALSE"):
            return Literal("boolean", word == "TRUE", token.pos)
        if word == "NULL":
            return Literal("null", None, token.pos)
        if word in DATE_LITERALS:
            return Literal("date_literal", (word, 0), token.pos)
        if word in DATE_LITERALS_N:
            self.expect(":")
            return Literal("date_literal", (word, self.integer()), token.pos)
        raise self.fail(token)

    def order_by(self) -> tuple[OrderItem, ...]:
        self.expect("BY")
        items = [self.order_item()]
        while self.accept(","):
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        field = self.field()
        descending = self.accept("ASC", "DESC") is not None and self.tokens[self.index - 1].upper == "DESC"
        nulls_last = descending
        if self.accept("NULLS"):
            nulls_last = self.expect("FIRST", "LAST").upper == "LAST"
        return OrderItem(field, descending, nulls_last)


def parse_soql(text: str) -> SoqlQuery:
    """Parse `text`; raises `SoqlError` (`MALFORMED_QUERY`) pointing at the first token it cannot take.

    >>> parse_soql("SELECT Id FROM Account LIMIT 5").limit
    5
    """
    return _Parser(text, tokenize(text)).query()
