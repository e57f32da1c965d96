"""Java character classes (`[..]`, nested classes, `&&`) and properties (`\\p{..}`), as `Pattern.clazz` reads them.

The methods follow `Pattern.clazz`, `Pattern.range` and `Pattern.family` of JDK 17 step by step, quirks
included: a `]` first in a class is a literal, `&` alone is a literal, the right operand of `&&` runs to the
end of the class, and `^` negates the whole class, nested classes included (JDK 9+).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.formula import javasets as sets

if TYPE_CHECKING:
    from bridge.formula.javaregex import Parser


def _union(left: str, right: str) -> str:
    return f"[{left}{right}]"


def _intersect(left: str, right: str) -> str:
    return f"[{left}&&{right}]"


class ClassParser:
    """Reads one class (or property) at the parser's cursor and returns it as a `regex` V1 set."""

    def __init__(self, parser: Parser) -> None:
        self.p = parser

    def clazz(self, *, consume: bool) -> str:  # noqa: C901 - Pattern.clazz, kept in Java's shape
        p = self.p
        prev: str | None = None
        current: str | None = None
        bits: list[str] = []
        has_bits = False
        char = p.next()
        negate = char == "^" and p.at(p.cursor - 1) == "["
        if negate:
            char = p.next()
        while True:
            if char == "[":
                current = self.clazz(consume=True)
                prev = current if prev is None else _union(prev, current)
                char = p.peek()
                continue
            if char == "&" and p.next() == "&":
                if has_bits:
                    prev = current = sets.member_set(bits) if prev is None else _union(prev, sets.member_set(bits))
                    has_bits = False
                prev, current = self.intersection(prev, current, bits)
                bits = []
                char = p.peek()
                continue
            if char == "&":
                p.cursor -= 1  # a single '&' is a literal
            if not char and p.cursor >= len(p.text):
                raise p.error("unclosed character class")
            if char == "]" and (prev is not None or has_bits):
                if consume:
                    p.next()
                return _closed(prev, bits if has_bits else None, negate=negate)
            found = self.range(bits)
            if found is None:
                has_bits = True
            else:
                prev = found if prev is None else _union(prev, found)
                current = found
            char = p.peek()

    def intersection(self, prev: str | None, current: str | None, bits: list[str]) -> tuple[str, str | None]:
        """After `&&`: the right operand (bracketed classes, or the bare rest of the class) and `prev && right`."""
        p = self.p
        char = p.next()
        right: str | None = None
        while char not in ("]", "&"):
            if not char and p.cursor >= len(p.text):
                raise p.error("unclosed character class")
            if char == "[":
                nested = self.clazz(consume=True)
            else:
                p.cursor -= 1
                nested = self.clazz(consume=False)
            right = nested if right is None else _union(right, nested)
            char = p.peek()
        if right is not None:
            current = right
        if prev is None:
            if right is None:
                raise p.error("bad class syntax")
            return right, current
        if current is None:
            raise p.error("bad class syntax")
        return _intersect(prev, current), current

    def range(self, bits: list[str]) -> str | None:
        """One member: a property, an escape's set, a range, or a single (added to `bits` when Java would)."""
        p = self.p
        if p.peek() == "\\":
            escaped = p.at(p.cursor + 1)
            if escaped in ("p", "P"):
                p.cursor += 2
                return self.family(negate=escaped == "P")
            code = p.escape_code(in_class=True, is_range=p.at(p.cursor + 2) == "-")
            if isinstance(code, str):
                return code
        else:
            code = ord(p.peek()) if p.peek() else 0
            p.next()
        if p.peek() == "-" and p.at(p.cursor + 1) not in ("[", "]"):
            p.next()
            end = p.escape_code(in_class=True, is_range=True) if p.peek() == "\\" else self.plain_end()
            if not isinstance(end, int) or end < code:
                raise p.error("illegal character range")
            return self.case_range(code, end)
        bits.extend(self.single_members(code))
        return None

    def plain_end(self) -> int:
        char = self.p.peek()
        self.p.next()
        return ord(char) if char else -1

    def single_members(self, code: int) -> list[str]:
        p = self.p
        if not p.has("i"):
            return [sets.char(code)]
        return [sets.char(c) for c in sets.single_variants(code, unicode_case=p.has("u"))]

    def case_range(self, low: int, high: int) -> str:
        members = [f"{sets.char(low)}-{sets.char(high)}"]
        if self.p.has("i"):
            members += [sets.char(c) for c in sets.range_variants(low, high, unicode_case=self.p.has("u"))]
        return sets.member_set(members)

    def family(self, *, negate: bool) -> str:
        """`\\p{name}` / `\\pL` with the cursor after the `p`: the set, negated for `\\P`."""
        p = self.p
        if p.at(p.cursor) == "{":
            end = p.text.find("}", p.cursor)
            if end < 0:
                raise p.error("unclosed character family")
            name = p.text[p.cursor + 1 : end]
            if not name:
                raise p.error("empty character family")
            p.cursor = end + 1
        else:
            name = p.at(p.cursor)
            p.cursor += 1
        found = sets.property_set(name, caseless=p.has("i"), unicode_classes=p.has("U"))
        if found is None:
            raise p.error(f"unknown character property name {{{name}}}")
        return f"[^{found}]" if negate else found


def _closed(prev: str | None, bits: list[str] | None, *, negate: bool) -> str:
    """The set a class stands for at its `]`: its bracketed parts (`prev`) and its loose members (`bits`)."""
    if prev is None:
        result = sets.member_set(bits or [])
    elif bits is None:
        result = prev
    else:
        result = _union(prev, sets.member_set(bits))
    return f"[^{result}]" if negate else result
