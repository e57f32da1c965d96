"""Java's character sets (`\\p{..}`, `\\d`, `\\w`, case-insensitive letters) spelled as `regex` V1 sets.

Every set is written out explicitly, so the compiled pattern needs no `regex` flag: Java's flags (ASCII-only
case folding by default, `UNICODE_CASE`, `UNICODE_CHARACTER_CLASS`) are applied here, set by set, the way
`java.util.regex.CharPredicates` and `Pattern.single`/`CIRange` apply them.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping

_JAVA_WHITESPACE = r"[[\t\n\x0b\f\r\x1c-\x1f\p{Zs}\p{Zl}\p{Zp}]--[\xa0\u2007\u202f]]"
_IGNORABLE = r"[\x00-\x08\x0e-\x1b\x7f-\x9f\p{Cf}]"
_CASED = r"[\p{Lowercase}\p{Uppercase}\p{Lt}]"
_JAVA_HEX_DIGIT = r"[\p{Nd}a-fA-F\uff21-\uff26\uff41-\uff46]"
WHITE_SPACE = r"[\t-\r\x85\p{Zs}\p{Zl}\p{Zp}]"
WORD = r"[\p{Alphabetic}\p{Mn}\p{Me}\p{Mc}\p{Nd}\p{Pc}\u200c\u200d]"

# java.util.regex.CharPredicates.forProperty: POSIX classes (ASCII), general categories, java.lang.Character
_CATEGORIES = "Cn Lu Ll Lt Lm Lo Mn Me Mc Nd Nl No Zs Zl Zp Cc Cf Co Cs Pd Ps Pe Pc Po Sm Sc Sk So Pi Pf L M N Z C P S"
_PROPERTY: dict[str, str] = {name: rf"\p{{{name}}}" for name in _CATEGORIES.split()} | {
    "LC": r"[\p{Lu}\p{Ll}\p{Lt}]",
    "LD": r"[\p{L}\p{Nd}]",
    "L1": r"[\x00-\xff]",
    "all": r"\p{Any}",
    "ASCII": r"[\x00-\x7f]",
    "Alnum": "[0-9A-Za-z]",
    "Alpha": "[A-Za-z]",
    "Blank": r"[ \t]",
    "Cntrl": r"[\x00-\x1f\x7f]",
    "Digit": "[0-9]",
    "Graph": r"[!-~]",
    "Lower": "[a-z]",
    "Print": r"[ -~]",
    "Punct": r"[!-/:-@\[-`{-~]",
    "Space": r"[ \t\n\x0b\f\r]",
    "Upper": "[A-Z]",
    "XDigit": "[0-9A-Fa-f]",
    "javaLowerCase": r"\p{Lowercase}",
    "javaUpperCase": r"\p{Uppercase}",
    "javaAlphabetic": r"\p{Alphabetic}",
    "javaIdeographic": r"\p{Ideographic}",
    "javaTitleCase": r"\p{Lt}",
    "javaDigit": r"\p{Nd}",
    "javaDefined": r"\P{Cn}",
    "javaLetter": r"\p{L}",
    "javaLetterOrDigit": r"[\p{L}\p{Nd}]",
    "javaJavaIdentifierStart": r"[\p{L}\p{Nl}\p{Sc}\p{Pc}]",
    "javaJavaIdentifierPart": rf"[\p{{L}}\p{{Sc}}\p{{Pc}}\p{{Nd}}\p{{Nl}}\p{{Mc}}\p{{Mn}}{_IGNORABLE}]",
    "javaUnicodeIdentifierStart": r"[\p{ID_Start}\u2e2f]",
    "javaUnicodeIdentifierPart": rf"[\p{{ID_Continue}}{_IGNORABLE}]",
    "javaIdentifierIgnorable": _IGNORABLE,
    "javaSpaceChar": r"[\p{Zs}\p{Zl}\p{Zp}]",
    "javaWhitespace": _JAVA_WHITESPACE,
    "javaISOControl": r"[\x00-\x1f\x7f-\x9f]",
    "javaMirrored": r"\p{Bidi_Mirrored}",
}
# Under CASE_INSENSITIVE these match either case (CharPredicates.forProperty(name, caseIns=true))
_PROPERTY_CASELESS = {
    "Lu": r"[\p{Lu}\p{Ll}\p{Lt}]",
    "Ll": r"[\p{Lu}\p{Ll}\p{Lt}]",
    "Lt": r"[\p{Lu}\p{Ll}\p{Lt}]",
    "Lower": "[A-Za-z]",
    "Upper": "[A-Za-z]",
    "javaLowerCase": _CASED,
    "javaUpperCase": _CASED,
    "javaTitleCase": _CASED,
}
# CharPredicates.forUnicodeProperty (\p{IsXxx}, names compared in upper case)
_UNICODE_PROPERTY = {
    "ALPHABETIC": r"\p{Alphabetic}",
    "ASSIGNED": r"\P{Cn}",
    "CONTROL": r"\p{Cc}",
    "HEXDIGIT": _JAVA_HEX_DIGIT,
    "HEX_DIGIT": _JAVA_HEX_DIGIT,
    "IDEOGRAPHIC": r"\p{Ideographic}",
    "JOINCONTROL": r"[\u200c\u200d]",
    "JOIN_CONTROL": r"[\u200c\u200d]",
    "LETTER": r"\p{L}",
    "LOWERCASE": r"\p{Lowercase}",
    "NONCHARACTERCODEPOINT": r"\p{Noncharacter_Code_Point}",
    "NONCHARACTER_CODE_POINT": r"\p{Noncharacter_Code_Point}",
    "TITLECASE": r"\p{Lt}",
    "PUNCTUATION": r"\p{P}",
    "UPPERCASE": r"\p{Uppercase}",
    "WHITESPACE": WHITE_SPACE,
    "WHITE_SPACE": WHITE_SPACE,
    "WORD": WORD,
    "DIGIT": r"\p{Nd}",
}
# CharPredicates.forPOSIXName, used under UNICODE_CHARACTER_CLASS
_POSIX_UNICODE = {
    "ALPHA": r"\p{Alphabetic}",
    "LOWER": r"\p{Lowercase}",
    "UPPER": r"\p{Uppercase}",
    "SPACE": WHITE_SPACE,
    "PUNCT": r"\p{P}",
    "XDIGIT": _JAVA_HEX_DIGIT,
    "ALNUM": r"[\p{Alphabetic}\p{Nd}]",
    "CNTRL": r"\p{Cc}",
    "DIGIT": r"\p{Nd}",
    "BLANK": r"[\t\p{Zs}]",
    "GRAPH": rf"[^{WHITE_SPACE}\p{{Cc}}\p{{Cs}}\p{{Cn}}]",
    "PRINT": rf"[[^{WHITE_SPACE}\p{{Cc}}\p{{Cs}}\p{{Cn}}][\t\p{{Zs}}]--\p{{Cc}}]",
}
_CASELESS_UPPER_NAMES = frozenset({"LOWERCASE", "UPPERCASE", "TITLECASE", "LOWER", "UPPER"})


def _by_name(table: Mapping[str, str], name: str, *, caseless: bool) -> str | None:
    if caseless and name in _CASELESS_UPPER_NAMES:
        return _CASED
    return table.get(name)


def property_set(name: str, *, caseless: bool, unicode_classes: bool) -> str | None:  # noqa: PLR0911 - one per form
    """The set for Java's `\\p{name}` (as `Pattern.family` resolves it), or None when Java knows no such name."""
    key, _, value = name.partition("=")
    if value:
        key = key.lower()
        if key in ("sc", "script"):
            return rf"\p{{Script={value}}}"
        if key in ("blk", "block"):
            return rf"\p{{Block={value}}}"
        if key in ("gc", "general_category"):
            return forproperty(value, caseless=caseless)
        return None
    if name.startswith("In"):
        return rf"\p{{Block={name[2:]}}}"
    if name.startswith("Is"):
        short = name[2:]
        found = _by_name(_UNICODE_PROPERTY, short.upper(), caseless=caseless) or forproperty(short, caseless=caseless)
        return found or rf"\p{{Script={short}}}"
    if unicode_classes and (found := _by_name(_POSIX_UNICODE, name.upper(), caseless=caseless)):
        return found
    return forproperty(name, caseless=caseless)


def forproperty(name: str, *, caseless: bool) -> str | None:
    """CharPredicates.forProperty: categories, ASCII POSIX classes and `java*` names (case-sensitive)."""
    return (_PROPERTY_CASELESS.get(name) if caseless else None) or _PROPERTY.get(name)


def escape_digit(unicode_classes: bool) -> str:
    return r"\p{Nd}" if unicode_classes else "[0-9]"


def escape_word(unicode_classes: bool) -> str:
    return WORD if unicode_classes else "[a-zA-Z_0-9]"


def escape_space(unicode_classes: bool) -> str:
    return WHITE_SPACE if unicode_classes else r"[ \t\n\x0b\f\r]"


HORIZONTAL = r"[ \t\xa0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]"
VERTICAL = r"[\n\x0b\f\r\x85\u2028\u2029]"


def char(code: int) -> str:
    """One code point as a set member (never a metacharacter)."""
    return f"\\U{code:08x}"


def _simple_upper(c: str) -> str:
    """Character.toUpperCase: the simple mapping (Python's str.upper is the full one: "ß" -> "SS")."""
    upper = c.upper()
    if len(upper) == 1:
        return upper
    title = c.title()
    return title if len(title) == 1 else c


def _simple_lower(c: str) -> str:
    lower = c.lower()
    return lower if len(lower) == 1 else lower[0] if c == "\u0130" else c


@functools.cache
def _case_table() -> tuple[dict[int, tuple[int, ...]], tuple[tuple[int, int, int], ...]]:
    """Code points grouped by Java's `toLowerCase(toUpperCase(c))`, and each cased code point's (c, up, key)."""
    groups: dict[int, list[int]] = {}
    cased: list[tuple[int, int, int]] = []
    for code in range(0x20000):
        if 0xD800 <= code <= 0xDFFF or unicodedata.category(chr(code)) == "Cn":
            continue
        up = _simple_upper(chr(code))
        key = ord(_simple_lower(up))
        if ord(up) != code or key != code:
            groups.setdefault(key, [key]).append(code)
            cased.append((code, ord(up), key))
    return {key: tuple(sorted(set(members))) for key, members in groups.items()}, tuple(cased)


def _is_ascii_letter(code: int) -> bool:
    return 0x41 <= code <= 0x5A or 0x61 <= code <= 0x7A


def single_variants(code: int, *, unicode_case: bool) -> tuple[int, ...]:
    """The code points a case-insensitive single `code` matches (Pattern.single: SingleI / SingleU)."""
    if not unicode_case:
        return (code | 0x20, code & ~0x20) if _is_ascii_letter(code) else (code,)
    groups, _ = _case_table()
    key = ord(_simple_lower(_simple_upper(chr(code))))
    return groups.get(key, (code,))


def range_variants(low: int, high: int, *, unicode_case: bool) -> list[int]:
    """Code points outside [low, high] that a case-insensitive range still matches (CIRange / CIRangeU)."""
    if not unicode_case:
        ascii_letters = [*range(0x41, 0x5B), *range(0x61, 0x7B)]
        return [c for c in ascii_letters if not low <= c <= high and low <= (c ^ 0x20) <= high]
    _, cased = _case_table()
    return [c for c, up, key in cased if not low <= c <= high and (low <= up <= high or low <= key <= high)]


def member_set(members: list[str]) -> str:
    """A V1 set of members (each a code point, a range or a nested set)."""
    return "[" + "".join(members) + "]" if members else r"[^\p{Any}]"
