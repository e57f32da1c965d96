"""Names and labels: the naming style of an API name, the org's majority convention, and whether a label means
what its API name says.

    name_style("ERP_Customer_Id__c")          # 'Pascal_Snake'
    name_style("erpDealID__c")                # 'camelCase'
    naming_issues("custom field", names)      # the names that break the majority style
    shares_meaning("Region__c", "Sales Territory")   # False: not one word in common
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_STYLES = (
    ("Pascal_Snake", re.compile(r"[A-Z][A-Za-z0-9]*(?:_[A-Z0-9][A-Za-z0-9]*)*")),
    ("camelCase", re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")),
    ("lower_snake", re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")),
)
_SUFFIX = re.compile(r"__(c|e|mdt|b|x|r)$")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_STOP_WORDS = frozenset({"a", "an", "and", "by", "for", "in", "is", "of", "on", "or", "the", "to"})
MIN_NAMES_FOR_A_CONVENTION = 3


def stem(name: str) -> str:
    """An API name without its suffix (`__c`, `__e`, ...) and namespace: `ns__Order_Line__c` → `Order_Line`."""
    return _SUFFIX.sub("", name).rpartition("__")[2]


def name_style(name: str) -> str:
    """The naming style of an API name without its suffix and namespace."""
    bare = stem(name)
    for style, pattern in _STYLES:
        if pattern.fullmatch(bare):
            return style
    return "other"


@dataclass(frozen=True, slots=True)
class NamingIssue:
    """A name whose style differs from the style most of its kind use in this org."""

    kind: str
    name: str
    style: str
    convention: str


def naming_issues(kind: str, names: Iterable[str]) -> list[NamingIssue]:
    """Names of one kind (custom fields, custom objects) that do not follow the org's majority style.

    Fewer than three names, or no style used by more than half of them, make no convention.
    """
    styles = {name: name_style(name) for name in names}
    if len(styles) < MIN_NAMES_FOR_A_CONVENTION:
        return []
    convention, users = Counter(styles.values()).most_common(1)[0]
    if users * 2 <= len(styles):
        return []
    return [NamingIssue(kind, n, s, convention) for n, s in sorted(styles.items()) if s != convention]


def words(text: str) -> list[str]:
    """Lower-case words of an API name or a label: `erpDealID__c` → erp, deal, id."""
    found = [w.lower() for w in _WORD.findall(stem(text) if "__" in text else text)]
    return [w for w in found if w not in _STOP_WORDS]


def _same_word(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if short == long or (len(short) >= 2 and long.startswith(short)):
        return True
    # An abbreviation (Acct, Qty, Mgr): the same first letter and its letters in order in the long word.
    if len(short) < 2 or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(letter in rest for letter in short)


def shares_meaning(api_name: str, label: str) -> bool:
    """Whether the label has at least one word in common with the API name (abbreviations count)."""
    name_words, label_words = words(api_name), words(label)
    if not name_words or not label_words:
        return True
    return any(_same_word(a, b) for a in name_words for b in label_words)
