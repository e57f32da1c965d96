"""The ingest's TLS: a server context from certificate and key files, reloaded when they change, and mutual TLS.

    tls = ReloadingTLS.from_settings(settings.ingest)     # None without ingest.tls_cert_file
    WorkerServer(app, tls=tls.context, ...)               # every handshake uses the newest certificate

The context handed to the server never changes; its SNI callback (which OpenSSL calls on every handshake, with or
without a server name) checks the files (at most every `reload_interval_s`) and switches the handshake to a
context built from the new files. A replacement that cannot be loaded (a key that does not match, half-written
files) is logged and the last good certificate stays in use; connections already open keep theirs.

With `tls_client_ca_file`, client certificates are requested and verified against those CAs (optional: a client
without one may still send a bearer token; one that presents a certificate that does not verify fails the
handshake).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from bridge.config import IngestSettings
from bridge.errors import ConfigError
from bridge.ingest.watch import FileWatch

log = logging.getLogger(__name__)


def _server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert_file, key_file)
        if client_ca_file is not None:
            context.load_verify_locations(cafile=client_ca_file)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        # The error names the file and OpenSSL's reason; it never contains key material.
        raise ConfigError(f"cannot load the ingest TLS files ({cert_file}, {key_file}): {exc}") from None
    return context


class ReloadingTLS:
    """A server `SSLContext` whose certificate, key and client CAs follow their files."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        client_ca_file: Path | None = None,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = (cert_file, key_file, client_ca_file)
        self.context = _server_context(*self._files)  # raises ConfigError: the server must not start without it
        self.context.sni_callback = self._select
        self._current = self.context
        watched = [path for path in self._files if path is not None]
        self._watch = FileWatch(watched, interval_s=interval_s, clock=clock)
        self.reloads = 0

    def __repr__(self) -> str:
        return f"ReloadingTLS(cert={self._files[0]}, mtls={self._files[2] is not None}, reloads={self.reloads})"

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> ReloadingTLS | None:
        """The ingest's TLS, or None when `tls_cert_file` is unset (plain HTTP)."""
        if settings.tls_cert_file is None or settings.tls_key_file is None:
            return None
        return cls(
            settings.tls_cert_file,
            settings.tls_key_file,
            settings.tls_client_ca_file,
            interval_s=settings.reload_interval_s,
        )

    @property
    def mutual(self) -> bool:
        """Client certificates are requested and verified."""
        return self._files[2] is not None

    def _select(self, ssl_object: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
        self.reload_if_changed()
        if self._current is not self.context:
            ssl_object.context = self._current

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed; True when a new certificate is now in use."""
        if not self._watch.changed():
            return False
        cert_file, key_file, client_ca_file = self._files
        try:
            self._current = _server_context(cert_file, key_file, client_ca_file)
        except ConfigError as exc:
            log.error("%s; the certificate loaded before stays in use", exc.message)  # noqa: TRY400 - no traceback
            return False
        self.reloads += 1
        log.info("reloaded the ingest TLS certificate from %s", cert_file)
        return True
