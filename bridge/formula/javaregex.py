"""Translating the Java regular expressions of REGEX() into Python's `re`, or saying that we cannot.

Java's `matches()` is a whole-string match (Python's `fullmatch`); `\\d`, `\\w`, `\\s` and case folding are
ASCII-only in Java by default (Python's `re.ASCII`). Python 3.11 has possessive quantifiers and atomic groups,
so those pass through. What has no faithful translation (class intersection, nested classes, most `\\p{..}`,
`\\G`, `\\R`, mid-pattern flags) raises `NotEvaluable` rather than guessing.
"""

from __future__ import annotations

import re
import warnings

from bridge.formula.errors import NotEvaluable

_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
    "L": "a-zA-Z",
    "IsAlphabetic": "a-zA-Z",
    "IsDigit": "0-9",
    "javaLowerCase": "a-z",
    "javaUpperCase": "A-Z",
}
_SIMPLE_ESCAPES = {
    "z": "\\Z",
    "e": "\\x1b",
    "h": "[ \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000]",
    "v": "[\\n\\x0b\\f\\r\\x85\\u2028\\u2029]",
}
_UNSUPPORTED_ESCAPES = frozenset("GRXHVKNcx0")
_PROPERTY = re.compile(r"[pP](?:\{(\w+)\}|([A-Za-z]))")
_GLOBAL_FLAGS = re.compile(r"\(\?([imsx]+)\)")
_FLAG_GROUP = re.compile(r"\(\?[a-zA-Z-]+[:)]")
_SCOPED_FLAGS = re.compile(r"\(\?[imsx]*(?:-[imsx]+)?:")


class _Translator:
    """One pass over the pattern, tracking whether we are inside a character class."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.out: list[str] = []
        self.index = 0
        self.in_class = False

    def unsupported(self, what: str) -> NotEvaluable:
        return NotEvaluable(f"REGEX(): {what} in {self.pattern!r} has no Python equivalent")

    def run(self) -> str:
        while self.index < len(self.pattern):
            char = self.pattern[self.index]
            if char == "\\":
                self.escape()
            elif self.in_class:
                self.class_char(char)
            else:
                self.plain_char(char)
        return "".join(self.out)

    def plain_char(self, char: str) -> None:
        rest = self.pattern[self.index :]
        if char == "[":
            self.in_class = True
            self.out.append("[^" if rest.startswith("[^") else "[")
            self.index += 2 if rest.startswith("[^") else 1
            if self.pattern.startswith("]", self.index):
                raise self.unsupported("a ']' first in a character class")
            return
        if rest.startswith("(?<") and not rest.startswith(("(?<=", "(?<!")):
            self.out.append("(?P<")
            self.index += 3
            return
        if _FLAG_GROUP.match(rest):
            self.flag_group(rest)
            return
        self.out.append(char)
        self.index += 1

    def flag_group(self, rest: str) -> None:
        match = _GLOBAL_FLAGS.match(rest) if self.index == 0 else _SCOPED_FLAGS.match(rest)
        match = match or _SCOPED_FLAGS.match(rest)
        if match:
            self.out.append(match.group())
            self.index += match.end()
            return
        raise self.unsupported("an embedded flag group")

    def class_char(self, char: str) -> None:
        rest = self.pattern[self.index :]
        if char == "[" or rest.startswith(("&&", "||", "--", "~~")):
            raise self.unsupported("a nested or combined character class")
        if char == "]":
            self.in_class = False
        self.out.append(char)
        self.index += 1

    def escape(self) -> None:
        following = self.pattern[self.index + 1 : self.index + 2]
        if not following:
            raise self.unsupported("a trailing backslash")
        if following == "Q":
            self.quoted()
        elif following in "pP":
            self.property()
        elif following == "k":
            self.backreference()
        elif following in _SIMPLE_ESCAPES and not (self.in_class and following in "hv"):
            self.out.append(_SIMPLE_ESCAPES[following])
            self.index += 2
        elif following in _UNSUPPORTED_ESCAPES or (self.in_class and following in "hv"):
            raise self.unsupported(f"the escape \\{following}")
        else:
            self.out.append("\\" + following)
            self.index += 2

    def quoted(self) -> None:
        end = self.pattern.find("\\E", self.index + 2)
        stop = len(self.pattern) if end < 0 else end
        literal = self.pattern[self.index + 2 : stop]
        self.out.append("".join("\\" + c if not c.isalnum() else c for c in literal))
        self.index = stop if end < 0 else end + 2

    def property(self) -> None:
        match = _PROPERTY.match(self.pattern, self.index + 1)
        name = (match.group(1) or match.group(2)) if match else None
        if match is None or name is None or (name.removeprefix("Is") not in _POSIX and name not in _POSIX):
            raise self.unsupported("a Unicode property")
        chars = _POSIX.get(name) or _POSIX[name.removeprefix("Is")]
        negated = self.pattern[self.index + 1] == "P"
        if self.in_class and negated:
            raise self.unsupported("a negated property inside a class")
        self.out.append(chars if self.in_class else f"[{'^' if negated else ''}{chars}]")
        self.index = match.end()

    def backreference(self) -> None:
        end = self.pattern.find(">", self.index)
        if not self.pattern.startswith("<", self.index + 2) or end < 0:
            raise self.unsupported("a malformed \\k reference")
        self.out.append(f"(?P={self.pattern[self.index + 3 : end]})")
        self.index = end + 1


def translate(pattern: str) -> str:
    """The Python spelling of the Java `pattern`; raises `NotEvaluable` when there is none."""
    return _Translator(pattern).run()


def compile_java(pattern: str) -> re.Pattern[str]:
    """A compiled Python pattern equivalent to the Java `pattern` (used with `fullmatch`)."""
    translated = translate(pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, Warning) as exc:
            raise NotEvaluable(f"REGEX(): {pattern!r} is not a pattern we can compile: {exc}") from exc
