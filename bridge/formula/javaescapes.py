"""Java's escapes that stand for one code point: `\\0oo`, `\\xhh`, `\\x{h..}`, `\\uhhhh` (surrogate pairs joined),
`\\cX` and `\\N{name}`, read as `Pattern.o`, `x`, `u`, `c` and `N` read them."""

from __future__ import annotations

import unicodedata

import regex

from bridge.formula.errors import NotEvaluable

_OCTAL = regex.compile("[0-3][0-7]{2}|[0-7]{1,2}")
_HEX = regex.compile(r"[0-9a-fA-F]{2}|\{([0-9a-fA-F]+)\}")
_UXXXX = regex.compile("[0-9a-fA-F]{4}")
_LOW_SURROGATE = regex.compile(r"\\u(d[c-f][0-9a-f]{2})", regex.IGNORECASE)


class CodePointEscapes:
    """Mixed into the parser: each method starts after the escape letter and leaves the cursor after the escape."""

    pattern: str
    text: str
    cursor: int

    def error(self, what: str) -> NotEvaluable:
        return NotEvaluable(f"REGEX(): {self.pattern!r} is not a valid Java pattern: {what}")

    def octal(self) -> int:
        match = _OCTAL.match(self.text, self.cursor)
        if match is None:
            raise self.error("illegal octal escape sequence")
        self.cursor = match.end()
        return int(match.group(), 8)

    def hexadecimal(self) -> int:
        match = _HEX.match(self.text, self.cursor)
        if match is None or int(match.group(1) or match.group(), 16) > 0x10FFFF:
            raise self.error("illegal hexadecimal escape sequence")
        self.cursor = match.end()
        return int(match.group(1) or match.group(), 16)

    def unicode_escape(self) -> int:
        match = _UXXXX.match(self.text, self.cursor)
        if match is None:
            raise self.error("illegal Unicode escape sequence")
        self.cursor = match.end()
        code = int(match.group(), 16)
        low = _LOW_SURROGATE.match(self.text, self.cursor)
        if 0xD800 <= code <= 0xDBFF and low:
            self.cursor = low.end()
            return 0x10000 + ((code - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
        return code

    def control(self) -> int:
        if self.cursor >= len(self.text):
            raise self.error("illegal control escape sequence")
        self.cursor += 1
        return ord(self.text[self.cursor - 1]) ^ 64

    def named_character(self) -> int:
        end = self.text.find("}", self.cursor)
        if self.text[self.cursor : self.cursor + 1] != "{" or end < 0:
            raise self.error("illegal character name escape sequence")
        name = self.text[self.cursor + 1 : end]
        self.cursor = end + 1
        try:
            return ord(unicodedata.lookup(name.strip()))
        except KeyError:
            raise self.error(f"unknown character name [{name}]") from None
