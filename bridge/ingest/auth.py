"""Authentication of an ingest request: a bearer token of the token file, or a verified client certificate.

    auth = Authenticator.from_settings(settings.ingest)       # reads the token file: ConfigError if unusable
    identity = auth.authenticate("Bearer crmb_…", peer_subject=None)   # Identity, or None: answer 401

Every way a credential can be wrong (no header, another scheme, a malformed token, an unknown id, a wrong
secret) returns the same None after the same work: one hash and one constant-time comparison, so neither the
answer nor its timing says which part was wrong. The token file is re-read when it changes (checked at most every
`reload_interval_s`); a file that becomes unreadable or invalid keeps the last good one in force and is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config import IngestSettings
from bridge.errors import ConfigError
from bridge.ingest.grants import AuthType, Grants, Identity
from bridge.ingest.tokens import IdentityEntry, TokenFile, read_token_file, token_id
from bridge.ingest.watch import FileWatch

log = logging.getLogger(__name__)

_SCHEME = "bearer"
_UNKNOWN_DIGEST = hashlib.sha256(b"no token has this hash").digest()


@dataclass(frozen=True, slots=True)
class _Index:
    """The token file, arranged for lookups: token id → (identity, digest), certificate subject → identity."""

    by_token: dict[str, tuple[Identity, bytes]] = field(default_factory=dict)
    by_subject: dict[str, Identity] = field(default_factory=dict)

    @classmethod
    def build(cls, tokens: TokenFile, defaults: IngestSettings) -> _Index:
        index = cls()
        for entry in tokens.identities:
            grants = Grants.of(entry.sources, entry.types)
            for token in entry.tokens:
                identity = _identity(entry, AuthType.API_KEY, token.id, grants, defaults)
                index.by_token[token.id] = (identity, bytes.fromhex(token.sha256))
            for subject in entry.subjects:
                index.by_subject[subject] = _identity(entry, AuthType.SERVICE_ACCOUNT, "mtls", grants, defaults)
        return index


def _identity(
    entry: IdentityEntry, authtype: AuthType, credential: str, grants: Grants, defaults: IngestSettings
) -> Identity:
    rate = entry.rate_per_s if entry.rate_per_s is not None else defaults.rate_per_s
    burst = entry.burst_events if entry.burst_events is not None else defaults.burst_events
    return Identity(entry.name, authtype, credential, grants, rate, burst)


class Authenticator:
    """Verifies bearer tokens and certificate subjects against the token file, re-reading it on change."""

    def __init__(
        self, path: Path | None, settings: IngestSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._path = path
        self._settings = settings
        self._index = _Index.build(read_token_file(path), settings) if path is not None else _Index()
        self._watch = FileWatch([path] if path is not None else [], interval_s=settings.reload_interval_s, clock=clock)

    def __repr__(self) -> str:
        index = self._index
        return f"Authenticator(file={self._path}, tokens={len(index.by_token)}, subjects={len(index.by_subject)})"

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Authenticator:
        """The authenticator `settings` ask for; a ConfigError when `auth=required` has nothing to check against."""
        if settings.tokens_file is None and settings.auth == "required":
            raise ConfigError(
                "ingest.auth=required needs ingest.tokens_file (create one with `crm-bridge ingest token add`); "
                "BRIDGE_INGEST__AUTH=none turns authentication off, for a local demo only"
            )
        return cls(settings.tokens_file, settings)

    def authenticate(self, authorization: str | None, peer_subject: str | None) -> Identity | None:
        """The identity of a request, from its `Authorization` header or else its verified certificate subject."""
        self._reload_if_changed()
        if authorization is not None:
            return self._bearer(authorization)
        if peer_subject is not None:
            return self._index.by_subject.get(peer_subject)
        return None

    def _bearer(self, authorization: str) -> Identity | None:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        found = self._index.by_token.get(token_id(token) or "") if scheme.lower() == _SCHEME else None
        expected = found[1] if found is not None else _UNKNOWN_DIGEST
        matches = hmac.compare_digest(hashlib.sha256(token.encode()).digest(), expected)
        return found[0] if found is not None and matches else None

    def _reload_if_changed(self) -> None:
        if self._path is None or not self._watch.changed():
            return
        try:
            index = _Index.build(read_token_file(self._path), self._settings)
        except ConfigError as exc:
            log.error("%s; the tokens read before stay in force", exc.message)  # noqa: TRY400 - no traceback wanted
            return
        self._index = index
        log.info("re-read the ingest token file %s: %d token(s), %d subject(s)", self._path, *self.counts)

    @property
    def counts(self) -> tuple[int, int]:
        """How many tokens and certificate subjects are in force."""
        return len(self._index.by_token), len(self._index.by_subject)
