"""Splitting formula text into tokens: numbers, strings, names (with dots), operators; comments are skipped."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NamedTuple

from bridge.formula.errors import FormulaError

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_NAME = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)")
_SPACE = re.compile(r"\s+")
# Longest first, so `<=` is not read as `<` then `=`.
_OPERATORS = ("&&", "||", "==", "!=", "<>", "<=", ">=", "+", "-", "*", "/", "^", "&", "=", "<", ">", "!", "(", ")", ",")


class Token(NamedTuple):
    """One token; `kind` is `number`, `string`, `name`, `op` or `end`."""

    kind: str
    value: Any
    position: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(chars), index + 1
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in _ESCAPES:
                raise FormulaError(f"Invalid escape sequence \\{escaped} in a string", position=index, text=text)
            chars.append(_ESCAPES[escaped])
            index += 2
            continue
        chars.append(char)
        index += 1
    raise FormulaError("Unterminated string literal", position=start, text=text)


def _skip(text: str, index: int) -> int:
    """Skip whitespace and `/* */` comments."""
    while True:
        space = _SPACE.match(text, index)
        if space:
            index = space.end()
        if not text.startswith("/*", index):
            return index
        end = text.find("*/", index + 2)
        if end < 0:
            raise FormulaError("Unterminated comment", position=index, text=text)
        index = end + 2


def _token_at(text: str, index: int) -> tuple[Token, int]:
    """The token starting at `index` and the offset just after it."""
    char = text[index]
    if char in "'\"":
        value, end = _read_string(text, index)
        return Token("string", value, index), end
    number = _NUMBER.match(text, index)
    if number:
        return Token("number", Decimal(number.group()), index), number.end()
    name = _NAME.match(text, index)
    if name:
        return Token("name", name.group(), index), name.end()
    for op in _OPERATORS:
        if text.startswith(op, index):
            return Token("op", op, index), index + len(op)
    raise FormulaError(f"Unexpected character {char!r}", position=index, text=text)


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an `end` token.

    >>> [t.value for t in tokenize("LEN(Name) > 3")][:4]
    ['LEN', '(', 'Name', ')']
    """
    tokens: list[Token] = []
    index = _skip(text, 0)
    while index < len(text):
        token, end = _token_at(text, index)
        tokens.append(token)
        index = _skip(text, end)
    tokens.append(Token("end", None, len(text)))
    return tokens
