"""The ingest's security policy in one object: who is calling, may they send now, may they send this event.

    guard = Guard.from_settings(settings.ingest)          # ConfigError when auth is required but unconfigured
    identity = guard.identify(authorization, peer_subject)  # None: 401
    guard.limits.wait_s(identity)                          # > 0: 429
    guard.forged(event)                                    # not None: 403, the client named an identity
    reason = guard.refusal(identity, event)                # not None: 403, nothing sent
    event = guard.stamp(identity, event)                   # authtype/authid set from the verified identity

An event that already carries `authtype`, `authid` or `authclaims` is refused (403 `forged_identity`) rather than
silently overwritten: a client that tries to name its own identity is either misconfigured or hostile, and both
deserve to hear it. Nothing a client sends ever becomes the `authid`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config import IngestSettings
from bridge.events.envelope import CloudEvent
from bridge.ingest.auth import Authenticator
from bridge.ingest.grants import IDENTITY_ATTRIBUTES, AuthType, Grants, Identity
from bridge.ingest.limits import RateLimits

FORGED = "forged_identity"
FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an authenticated identity may not send an event: `forged_identity` or `forbidden`, and the message."""

    error: str
    message: str


@dataclass(slots=True)
class Guard:
    """Authentication (None: `auth=none`, everyone is the anonymous identity), rate limits, authorization."""

    authenticator: Authenticator | None
    limits: RateLimits
    anonymous: Identity

    @classmethod
    def from_settings(cls, settings: IngestSettings, *, limits: RateLimits | None = None) -> Guard:
        """The guard `settings` describe (the token file is read now)."""
        authenticator = Authenticator.from_settings(settings) if settings.auth == "required" else None
        anonymous = Identity(
            "anonymous",
            AuthType.UNAUTHENTICATED,
            "none",
            Grants.everything(),
            settings.rate_per_s,
            settings.burst_events,
        )
        return cls(authenticator, limits or RateLimits(), anonymous)

    @property
    def required(self) -> bool:
        """Requests must authenticate."""
        return self.authenticator is not None

    def identify(self, authorization: str | None, peer_subject: str | None) -> Identity | None:
        """The caller's identity, or None (answer 401)."""
        if self.authenticator is None:
            return self.anonymous
        return self.authenticator.authenticate(authorization, peer_subject)

    @staticmethod
    def forged(event: CloudEvent) -> Refusal | None:
        """A refusal when the client's event names an identity itself (`authid`, `authtype`, `authclaims`)."""
        claimed = sorted(IDENTITY_ATTRIBUTES & event.extensions.keys())
        if not claimed:
            return None
        names = ", ".join(repr(name) for name in claimed)
        return Refusal(FORGED, f"the event sets {names}: only the ingest sets those, from the verified credentials")

    @staticmethod
    def refusal(identity: Identity, event: CloudEvent) -> Refusal | None:
        """None when `identity` may send `event` (its source and type); else why not."""
        reason = identity.grants.refusal(source=event.source, type=event.type)
        if reason is not None:
            return Refusal(FORBIDDEN, f"{identity.name!r} may not publish this event: {reason}")
        return None

    @staticmethod
    def stamp(identity: Identity, event: CloudEvent) -> CloudEvent:
        """`event` with the auth-context attributes of `identity` (travelling as `ce_authtype`, `ce_authid`)."""
        return event._replace(extensions={**event.extensions, **identity.attributes()})
