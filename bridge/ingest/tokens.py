"""The ingest's token file: identities, what each may publish, and the SHA-256 hashes of their bearer tokens.

    token, entry = new_token()                        # token: shown once; entry: what the file keeps
    tokens = read_token_file(path)                    # TokenFile, or ConfigError with the reason
    write_token_file(path, tokens.with_identity(...)) # atomically, mode 0600

A token is `crmb_<id>_<secret>`: `id` (8 hex digits) names the token in the file, the logs and the metrics;
`secret` is 256 random bits. The file keeps `sha256(token)` only. A fast hash is right here, and bcrypt or
argon2 would be wrong: those are for passwords people choose, which are guessable, so each guess is made
expensive; a 256-bit random token cannot be guessed, its hash cannot be searched back, and a deliberately slow
hash would only hand every unauthenticated request a CPU bill (a denial-of-service lever). A keyed hash (HMAC)
adds a second secret to keep without making the stored hashes any harder to reverse.

The file (JSON; a Kubernetes Secret mounted as a directory works, it is re-read on change):

    {"version": 1, "identities": [{"name": "ERP", "sources": ["erp://acme"], "types": ["com.acme.crm.*"],
      "tokens": [{"id": "3f9a1c2e", "sha256": "…", "created": "2025-01-31T12:00:00Z"}],
      "subjects": ["CN=erp.acme.internal,O=Acme"], "rate_per_s": 50, "burst_events": 500}]}

`sources` and `types` are patterns where `*` matches any run of characters. An identity holds at most two tokens:
during a rotation both the old and the new one are valid. `subjects` are client-certificate subjects (RFC 4514,
as `openssl x509 -noout -subject -nameopt RFC2253` prints them) that authenticate as the identity over mTLS.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge.errors import ConfigError

TOKEN_PREFIX = "crmb"  # noqa: S105 - the tokens' visible prefix (secret scanners match it), not a secret
MAX_TOKENS = 2  # the old and the new one, during a rotation
_ID_HEX = 8
_PRINTABLE_MAX = 256


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _printable(value: str, what: str) -> str:
    if not value or len(value) > _PRINTABLE_MAX or not value.isprintable():
        raise ValueError(f"{what} must be 1 to {_PRINTABLE_MAX} printable characters")
    return value


class TokenEntry(_Model):
    """One token as the file keeps it: its id and the SHA-256 of the whole token, never the token."""

    id: str = Field(pattern=r"^[0-9a-f]{8}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str = ""


class IdentityEntry(_Model):
    """A source system: what it may publish, how it authenticates, and its rate."""

    name: str
    sources: tuple[str, ...] = Field(min_length=1)
    types: tuple[str, ...] = Field(min_length=1)
    tokens: tuple[TokenEntry, ...] = Field(default=(), max_length=MAX_TOKENS)
    subjects: tuple[str, ...] = ()
    rate_per_s: float | None = Field(default=None, gt=0)
    burst_events: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _printable(value, "an identity's name")

    @field_validator("sources", "types", "subjects")
    @classmethod
    def _patterns(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _printable(value, "a pattern or subject")
        return values


class TokenFile(_Model):
    """The whole file. Identity names, token ids and certificate subjects are each unique."""

    version: Literal[1] = 1
    identities: tuple[IdentityEntry, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Self:
        for what, values in (
            ("identity name", [i.name for i in self.identities]),
            ("token id", [t.id for i in self.identities for t in i.tokens]),
            ("certificate subject", [s for i in self.identities for s in i.subjects]),
        ):
            seen: set[str] = set()
            for value in values:
                if value in seen:
                    raise ValueError(f"the {what} {value!r} appears twice")
                seen.add(value)
        return self

    def identity(self, name: str) -> IdentityEntry | None:
        """The identity called `name`, if any."""
        return next((i for i in self.identities if i.name == name), None)

    def with_identity(self, entry: IdentityEntry) -> TokenFile:
        """This file with `entry` added, or replacing the identity of the same name (in place)."""
        others = [i for i in self.identities if i.name != entry.name]
        if len(others) == len(self.identities):
            return TokenFile(identities=(*self.identities, entry))
        return TokenFile(identities=tuple(entry if i.name == entry.name else i for i in self.identities))

    def without_identity(self, name: str) -> TokenFile:
        """This file without the identity called `name`."""
        return TokenFile(identities=tuple(i for i in self.identities if i.name != name))


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token, as the file keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str | None:
    """The id part of a well-formed token (`crmb_<id>_<secret>`), else None. Says nothing about validity."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != _ID_HEX or not parts[2]:
        return None
    return parts[1]


def new_token(taken: set[str] | frozenset[str] = frozenset()) -> tuple[str, TokenEntry]:
    """A fresh token (to show once) and its entry for the file; its id differs from every id in `taken`."""
    while True:
        ident = secrets.token_hex(_ID_HEX // 2)
        if ident not in taken:
            break
    token = f"{TOKEN_PREFIX}_{ident}_{secrets.token_urlsafe(32)}"
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return token, TokenEntry(id=ident, sha256=token_hash(token), created=created)


def parse_token_file(raw: bytes, origin: str) -> TokenFile:
    """Parse and check the file's bytes; a `ConfigError` says where and why (never echoing values)."""
    try:
        return TokenFile.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"the ingest token file {origin} is invalid: {problems}") from None


def read_token_file(path: Path) -> TokenFile:
    """Read and check the token file at `path`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the ingest token file {path}: {exc.strerror or exc}") from None
    return parse_token_file(raw, str(path))


def write_token_file(path: Path, tokens: TokenFile) -> None:
    """Replace the file atomically (a reader sees the old or the new file, never half of one), mode 0600."""
    text = tokens.model_dump_json(indent=2, exclude_none=True) + "\n"
    directory = path.parent if str(path.parent) else Path()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
