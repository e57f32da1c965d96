"""REGEX(): Java's `java.util.regex` patterns parsed as Java parses them and written for the `regex` package.

Salesforce evaluates REGEX() with `java.util.regex` and `Matcher.matches()`, a whole-string match. The parser
follows `java.util.regex.Pattern` (JDK 17) construct by construct: `\\Q..\\E` quoting, inline flags scoped to
their group, Java's line terminators for `.`, `^`, `$` and `\\Z`, ASCII-only `\\d \\w \\s` and case folding
unless `(?U)` / `(?u)`, `\\p{..}` names as `Pattern.family` resolves them, and character classes with nested
classes and `&&` intersections (`[a-z&&[^aeiou]]`). The output uses no `regex` flags: every Java flag is
applied where it is in force, so sets are explicit. `NotEvaluable` is raised for a pattern Java itself rejects
and for the few constructs with no translation (`\\b{g}`, `(?c)` canonical equivalence).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import regex

from bridge.formula import javaclass
from bridge.formula import javasets as sets
from bridge.formula.errors import NotEvaluable
from bridge.formula.javaescapes import CodePointEscapes

_TERMINATORS = r"[\n\r\x85\u2028\u2029]"
_FLAG_LETTERS = frozenset("idmsuxU")
_SIMPLE = {"a": 0x07, "e": 0x1B, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09}
_SETS = {"d": sets.escape_digit, "w": sets.escape_word, "s": sets.escape_space}
_FIXED_SETS = {"h": sets.HORIZONTAL, "v": sets.VERTICAL}
_LINEBREAK = rf"(?:\r\n|{sets.VERTICAL})"
_REFERENCE = regex.compile("\x00([0-9]+)\x00")
_COUNTED = regex.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_GROUP_NAME = regex.compile(r"[A-Za-z][A-Za-z0-9]*>")
_REFERENCE_NAME = regex.compile(r"<([A-Za-z][A-Za-z0-9]*)>")


def remove_quoting(pattern: str) -> str:
    r"""Java's `RemoveQEQuoting`: `\Q..\E` becomes escaped literals before anything else is parsed."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("\\Q", index):
            end = pattern.find("\\E", index + 2)
            stop = len(pattern) if end < 0 else end
            out.extend(c if c.isascii() and c.isalpha() else _quoted(c) for c in pattern[index + 2 : stop])
            index = stop + 2
        elif pattern[index] == "\\" and index + 1 < len(pattern):
            out.append(pattern[index : index + 2])
            index += 2
        else:
            out.append(pattern[index])
            index += 1
    return "".join(out)


def _quoted(c: str) -> str:
    return f"\\x{{{ord(c):x}}}" if c.isascii() else c


class Parser(CodePointEscapes):
    """One pass over a Java pattern with Java's cursor primitives (`peek`, `next`, `read`, `unread`)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.text = remove_quoting(pattern)
        self.cursor = 0
        self.flags: frozenset[str] = frozenset()
        self.groups = 0
        self.names: set[str] = set()

    # -- Java's primitives -------------------------------------------------------------------------------------
    def at(self, index: int) -> str:
        return self.text[index] if 0 <= index < len(self.text) else ""

    def peek(self) -> str:
        if "x" in self.flags:
            self.skip_whitespace()
        return self.at(self.cursor)

    def next(self) -> str:
        self.cursor += 1
        return self.peek()

    def read(self) -> str:
        char = self.peek()
        self.cursor += 1
        return char

    def skip_whitespace(self) -> None:
        while (char := self.at(self.cursor)) and (char in " \t\n\x0b\f\r" or char == "#"):
            if char == "#":
                while (char := self.at(self.cursor)) and char not in "\n\r\x85\u2028\u2029":
                    self.cursor += 1
            else:
                self.cursor += 1

    def has(self, flag: str) -> bool:
        return flag in self.flags or (flag == "u" and "U" in self.flags)

    def unsupported(self, what: str) -> NotEvaluable:
        return NotEvaluable(f"REGEX(): {what} in {self.pattern!r} has no translation")

    # -- expressions --------------------------------------------------------------------------------------------
    def parse(self) -> str:
        body = self.expr()
        if self.peek() == ")":
            raise self.error("unmatched closing ')'")
        if self.cursor < len(self.text):
            raise self.error(f"unexpected {self.peek()!r}")
        return _REFERENCE.sub(self.reference, body)

    def reference(self, match: regex.Match[str]) -> str:
        number = int(match.group(1))
        return f"(?:\\g<{number}>)" if number <= self.groups else "(?!)"

    def expr(self) -> str:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.next()
            branches.append(self.sequence())
        return "|".join(branches)

    def sequence(self) -> str:
        parts: list[str] = []
        while (char := self.peek()) not in ("|", ")") and self.cursor < len(self.text):
            if char in "?*+":
                raise self.error(f"dangling meta character {char!r}")
            atom = self.atom(char)
            if atom is not None:
                parts.append(self.closure(atom))
        return "".join(parts)

    def atom(self, char: str) -> str | None:
        if char == "(":
            return self.group()
        if char == "[":
            return self.class_atom()
        if char == "\\":
            return self.escape()
        if char == "{":
            return "(?:)"  # Java: an empty slice; the closure that follows must be a valid count
        self.next()
        anchors = {".": self.dot, "^": self.caret, "$": self.end_of_line}
        return anchors[char]() if char in anchors else self.literal(ord(char))

    def dot(self) -> str:
        return r"\p{Any}" if self.has("s") else "[^\n]" if self.has("d") else f"[^{_TERMINATORS[1:-1]}]"

    def class_atom(self) -> str:
        return javaclass.ClassParser(self).clazz(consume=True)

    def literal(self, code: int) -> str:
        if self.has("i"):
            variants = sets.single_variants(code, unicode_case=self.has("u"))
            if len(variants) > 1:
                return sets.member_set([sets.char(v) for v in variants])
        return sets.char(code) if not chr(code).isalnum() else chr(code)

    def closure(self, atom: str) -> str:
        char = self.peek()
        if char == "{":
            quantifier = self.counted()
        elif char in ("?", "*", "+"):
            quantifier = char
            self.next()
        else:
            return atom
        if (atom.endswith(_LINEBREAK + ")") and atom[: -len(_LINEBREAK) - 1] in ("(", "(?:")) or atom == _LINEBREAK:
            # Java matches a quantified \R (alone or alone in a group) as a unit: it never gives back \r\n's \n
            atom = atom.replace(_LINEBREAK, f"(?>{_LINEBREAK})")
        mode = self.peek()
        if mode in ("?", "+"):
            self.next()
            quantifier += mode
        return f"(?:{atom}){quantifier}"

    def counted(self) -> str:
        match = _COUNTED.match(self.text, self.cursor)
        if not self.at(self.cursor + 1).isdigit() or not self.at(self.cursor + 1).isascii():
            raise self.error("illegal repetition")
        if match is None:
            raise self.error("unclosed counted closure")
        low, comma, high = match.group(1), match.group(2), match.group(3)
        if high and int(high) < int(low):
            raise self.error("illegal repetition range")
        self.cursor = match.end()
        return "{" + low + ("," + (high or "") if comma else "") + "}"

    # -- anchors ------------------------------------------------------------------------------------------------
    def caret(self) -> str:
        if not self.has("m"):
            return r"\A"
        after = r"(?<=\n)" if self.has("d") else r"(?:(?<=[\n\x85\u2028\u2029])|(?<=\r)(?!\n))"
        return rf"(?:\A|{after})(?=\p{{Any}})"  # Java never matches a multiline ^ at the very end

    def end_of_line(self) -> str:
        return self.dollar(multiline=self.has("m"))

    def dollar(self, *, multiline: bool) -> str:
        if self.has("d"):
            return r"(?:\Z|(?=\n))" if multiline else r"(?:\Z|(?=\n\Z))"
        if multiline:
            return r"(?:\Z|(?<!\r)(?=\n)|(?=[\r\x85\u2028\u2029]))"
        return r"(?:\Z|(?=\r\n\Z)|(?<!\r)(?=\n\Z)|(?=[\r\x85\u2028\u2029]\Z))"

    def boundary(self, *, negate: bool) -> str:
        """Java 17's `Bound`: a word character is a letter, a decimal digit or `_` (a mark after one counts)."""
        if self.has("U"):
            left, right = f"(?<={sets.WORD})", f"(?={sets.WORD})"
        else:
            word, base = r"[\p{L}\p{Nd}_]", r"[\p{L}\p{Nd}]\p{Mn}*"
            left = rf"(?:(?<={word})|(?<={base}\p{{Mn}}))"
            right = rf"(?:(?={word})|(?<={base})(?=\p{{Mn}}))"
        bound = rf"(?:{left}(?!{right})|(?!{left}){right})"
        return f"(?!{bound})" if negate else bound

    # -- groups -------------------------------------------------------------------------------------------------
    def group(self) -> str | None:
        saved = self.flags
        char = self.next()
        opening: str | None = "("
        if char == "?":
            self.cursor += 1
            opening = self.special_group()
            if opening is None:
                return None  # (?i): the flags hold to the end of the enclosing group
        else:
            self.groups += 1
        body = self.expr()
        if self.peek() != ")":
            raise self.error("unclosed group")
        self.next()
        self.flags = saved
        return f"{opening}{body})"

    def special_group(self) -> str | None:
        char = self.read()
        if char in (":", "=", "!", ">"):
            return f"(?{char}"
        if char == "<":
            following = self.at(self.cursor)
            if following in ("=", "!"):
                self.cursor += 1
                return f"(?<{following}"
            return self.named_group()
        self.cursor -= 1
        return self.inline_flags()

    def named_group(self) -> str:
        match = _GROUP_NAME.match(self.text, self.cursor)
        if match is None:
            raise self.error("a group name must be a Latin letter followed by letters or digits")
        name = match.group()[:-1]
        if name in self.names:
            raise self.error(f"named capturing group <{name}> is already defined")
        self.names.add(name)
        self.groups += 1
        self.cursor = match.end()
        return f"(?P<{name}>"

    def inline_flags(self) -> str | None:
        flags, on = set(self.flags), True
        while (char := self.read()) not in (":", ")"):
            if char == "-":
                on = False
            elif char == "c":
                raise self.unsupported("canonical equivalence (?c)")
            elif char in _FLAG_LETTERS:
                flags.add(char) if on else flags.discard(char)
            else:
                raise self.error("unknown inline modifier")
        self.flags = frozenset(flags)
        return "(?:" if char == ":" else None

    # -- escapes outside a class --------------------------------------------------------------------------------
    def escape(self) -> str:
        char = self.at(self.cursor + 1)
        if char in ("p", "P"):
            self.cursor += 2
            return javaclass.ClassParser(self).family(negate=char == "P")
        code = self.escape_code(in_class=False)
        return self.literal(code) if isinstance(code, int) else code

    @property
    def code_escapes(self) -> dict[str, Callable[[], int]]:
        return {
            "0": self.octal,
            "x": self.hexadecimal,
            "u": self.unicode_escape,
            "c": self.control,
            "N": self.named_character,
        }

    def escape_code(self, *, in_class: bool, is_range: bool = False) -> int | str:
        """Java's `Pattern.escape`: a code point, or (as a string) the node the escape stands for."""
        char = self.at(self.cursor + 1)
        self.cursor += 2
        if char in _SIMPLE:
            return _SIMPLE[char]
        if char == "v" and is_range:
            return 0x0B  # Java keeps the pre-1.8 meaning of \v in a range
        if char.lower() in _SETS or char.lower() in _FIXED_SETS:
            found = _FIXED_SETS.get(char.lower()) or _SETS[char.lower()](self.has("U"))
            return found if char.islower() else f"[^{found}]"
        if char in self.code_escapes:
            return self.code_escapes[char]()
        if char and not (char.isascii() and char.isalnum()):
            return ord(char)
        if in_class or not char:
            raise self.error(f"illegal/unsupported escape sequence \\{char}")
        return self.node_escape(char)

    def node_escape(self, char: str) -> str:
        nodes = {"A": r"\A", "G": r"\G", "z": r"\Z", "X": r"\X", "R": _LINEBREAK}
        if char in nodes:
            return nodes[char]
        if char == "Z":
            return self.dollar(multiline=False)
        if char in ("b", "B"):
            if char == "b" and self.text.startswith("{g", self.cursor):
                if self.at(self.cursor + 2) != "}":
                    raise self.error("illegal/unsupported escape sequence \\b{g")
                raise self.unsupported("the grapheme boundary \\b{g}")
            return self.boundary(negate=char == "B")
        if char.isdigit():
            return self.backreference(int(char))
        if char == "k":
            return self.named_reference()
        raise self.error(f"illegal/unsupported escape sequence \\{char}")

    def backreference(self, number: int) -> str:
        while (digit := self.at(self.cursor)).isdigit() and digit.isascii() and number * 10 + int(digit) <= self.groups:
            number = number * 10 + int(digit)
            self.cursor += 1
        return self.caseless_reference(f"\x00{number}\x00")

    def named_reference(self) -> str:
        match = _REFERENCE_NAME.match(self.text, self.cursor)
        if match is None:
            raise self.error("\\k is not followed by '<' and a group name")
        if match.group(1) not in self.names:
            raise self.error(f"named capturing group <{match.group(1)}> does not exist")
        self.cursor = match.end()
        return self.caseless_reference(f"(?P={match.group(1)})")

    def caseless_reference(self, reference: str) -> str:
        if not self.has("i"):
            return reference
        return f"(?i-f:{reference})" if self.has("u") else f"(?ia-f:{reference})"


def translate(pattern: str) -> str:
    """The `regex` (V1) spelling of the Java `pattern`; raises `NotEvaluable` when there is none."""
    return Parser(pattern).parse()


@functools.lru_cache(maxsize=1024)
def compile_java(pattern: str) -> regex.Pattern[str]:
    """A compiled pattern that judges as Java's `Pattern.matches(pattern, text)` (used with `fullmatch`)."""
    translated = translate(pattern)
    try:
        return regex.compile(translated, regex.V1)
    except (regex.error, ValueError, OverflowError) as exc:
        raise NotEvaluable(f"REGEX(): {pattern!r} is not a pattern we can compile: {exc}") from exc
