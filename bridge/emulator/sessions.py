"""OAuth sessions: access tokens issued to a connected app's run-as user, expiring after an idle timeout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bridge.emulator.profile import ConnectedApp, UserSpec


@dataclass(slots=True)
class Session:
    """One access token: who it runs as, through which app, and when it was last used."""

    token: str
    user: UserSpec
    app: ConnectedApp
    issued_s: float
    last_used_s: float


class Sessions:
    """Issued tokens. A token is valid while used within `timeout_s` of its last use, and until expired."""

    def __init__(self, org_id: str, timeout_s: float, clock: Callable[[], float]) -> None:
        self._org_id = org_id
        self.timeout_s = timeout_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def issue(self, user: UserSpec, app: ConnectedApp) -> Session:
        """A new session; the token looks like Salesforce's (`00D…!AR…`)."""
        token = f"{self._org_id[:15]}!AR{secrets.token_urlsafe(60)}"
        now = self._clock()
        session = Session(token, user, app, now, now)
        self._sessions[token] = session
        return session

    def lookup(self, token: str, *, touch: bool = True) -> Session | None:
        """The live session for `token` (refreshing its idle timer), or None when unknown or expired."""
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_used_s >= self.timeout_s:
            del self._sessions[token]
            return None
        if touch:
            session.last_used_s = now
        return session

    def valid(self, token: str) -> bool:
        """True when `token` is a live session (does not refresh it)."""
        return self.lookup(token, touch=False) is not None

    def expire(self, token: str | None = None) -> int:
        """End one session, or all of them; returns how many ended."""
        if token is None:
            count = len(self._sessions)
            self._sessions.clear()
            return count
        return 1 if self._sessions.pop(token, None) is not None else 0


def signature(secret: str, user_id: str, issued_at_ms: str) -> str:
    """The token response's `signature`: base64 HMAC-SHA256 of id + issued_at, keyed by the client secret."""
    digest = hmac.new(secret.encode(), (user_id + issued_at_ms).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
