"""Who the ingest is talking to, and what it may publish: the verified identity and its grants.

    grants = Grants.of(["erp://acme"], ["com.acme.crm.*"])
    grants.refusal(source="erp://acme", type="com.acme.crm.customer.upserted")   # None: allowed
    grants.refusal(source="crm://other", type="com.acme.crm.customer.upserted")  # the reason, for the 403

A pattern is matched against the whole value; `*` matches any run of characters (`erp://*`, `com.acme.crm.*`),
every other character stands for itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`*` is the only wildcard; everything else is literal (a `?` in a URL is a `?`)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Grants:
    """The CloudEvents `source` values and event `type`s an identity may publish."""

    sources: tuple[str, ...]
    types: tuple[str, ...]
    _source_res: tuple[re.Pattern[str], ...]
    _type_res: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, sources: Iterable[str], types: Iterable[str]) -> Grants:
        """Grants from patterns."""
        src, typ = tuple(sources), tuple(types)
        return cls(src, typ, tuple(map(compile_pattern, src)), tuple(map(compile_pattern, typ)))

    @classmethod
    def everything(cls) -> Grants:
        """Any source, any type (ingest without authentication)."""
        return cls.of(["*"], ["*"])

    def refusal(self, *, source: str, type: str) -> str | None:
        """None when both are allowed, else why not (naming the attribute and what is allowed)."""
        if not any(p.fullmatch(type) for p in self._type_res):
            return f"event type {type[:200]!r} is not allowed (allowed: {', '.join(self.types)})"
        if not any(p.fullmatch(source) for p in self._source_res):
            return f"source {source[:200]!r} is not allowed (allowed: {', '.join(self.sources)})"
        return None


class AuthType(StrEnum):
    """The CloudEvents auth-context extension's `authtype` values the ingest sets."""

    API_KEY = "api_key"  # a bearer token of the token file
    SERVICE_ACCOUNT = "service_account"  # a verified client certificate
    UNAUTHENTICATED = "unauthenticated"  # ingest.auth=none


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller: its name (the `authid`), how it authenticated, with which credential, and its grants.

    `credential` is the token id or `mtls`; it is a label for logs and metrics, never a secret.
    """

    name: str
    authtype: AuthType
    credential: str
    grants: Grants
    rate_per_s: float
    burst_events: int

    def attributes(self) -> dict[str, str]:
        """The auth-context extension attributes stamped on every event this identity publishes."""
        if self.authtype is AuthType.UNAUTHENTICATED:
            return {"authtype": self.authtype.value}
        return {"authtype": self.authtype.value, "authid": self.name}


IDENTITY_ATTRIBUTES = frozenset({"authtype", "authid", "authclaims"})
"""Attributes only the ingest sets; an event that carries one of them is refused (it would claim an identity)."""
