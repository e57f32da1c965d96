"""The syntax tree of a formula: literals, field and merge-field references, operators and function calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: `Decimal`, `str`, `bool` or `None`."""

    value: Any
    position: int


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field of the record (`Amount`) or a path through lookups (`Account.Owner.Name`), as written."""

    path: str
    position: int


@dataclass(frozen=True, slots=True)
class MergeRef:
    """A global merge field: `$User.Username`, `$Setup.Integration_Bypass__c.All__c`."""

    path: str
    position: int


@dataclass(frozen=True, slots=True)
class Unary:
    """`-x` or `!x`."""

    op: str
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Binary:
    """`left op right`; `op` is normalised (`==` is `=`, `<>` is `!=`)."""

    op: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    """`NAME(args)`; `name` is upper-cased."""

    name: str
    args: tuple[Node, ...]
    position: int


Node = Literal | FieldRef | MergeRef | Unary | Binary | Call
