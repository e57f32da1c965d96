"""HTTP ingest: authenticated, authorized, rate-limited `POST /v1/events` onto the domain topics, over TLS.

The tree: `app` (the endpoint), `guard` (who, how fast, what), `auth` and `tokens` (bearer tokens, hashed, in a
file re-read on change), `grants` (identities and their patterns), `limits` (per-identity token buckets),
`body` (size, time and strict JSON), `tls` (certificates reloaded on change, mutual TLS), `watch` (file changes).
"""

from bridge.ingest.app import create_ingest_app, ingest_routes
from bridge.ingest.guard import Guard
from bridge.ingest.tls import ReloadingTLS

__all__ = ["Guard", "ReloadingTLS", "create_ingest_app", "ingest_routes"]
