"""Reads the security facts the doctor checks: the secret files' modes, the ingest's token file and TLS files."""

from __future__ import annotations

import os
import stat

from bridge.config import Settings
from bridge.doctor.facts import IngestFacts, SecretFile, SecurityFacts, TokenFileFacts
from bridge.errors import ConfigError
from bridge.ingest.tls import ReloadingTLS
from bridge.ingest.tokens import read_token_file


def _secret_files(settings: Settings) -> tuple[SecretFile, ...]:
    configured = {
        "salesforce.private_key_file": settings.salesforce.private_key_file,
        "kafka.ssl_keyfile": settings.kafka.ssl_keyfile,
        "ingest.tls_key_file": settings.ingest.tls_key_file,
        "ingest.tokens_file": settings.ingest.tokens_file,
    }
    files = []
    for setting, path in configured.items():
        if path is None:
            continue
        try:
            mode: int | None = stat.S_IMODE(os.stat(path).st_mode)  # follows a Kubernetes Secret's symlinks
        except OSError:
            mode = None  # reported by the check that reads the file
        files.append(SecretFile(setting, str(path), mode))
    return tuple(files)


def _token_file(settings: Settings) -> TokenFileFacts | None:
    path = settings.ingest.tokens_file
    if path is None:
        return None
    try:
        tokens = read_token_file(path)
    except ConfigError as exc:
        return TokenFileFacts(str(path), error=exc.message)
    return TokenFileFacts(
        str(path),
        identities=len(tokens.identities),
        tokens=sum(len(i.tokens) for i in tokens.identities),
        subjects=sum(len(i.subjects) for i in tokens.identities),
        unusable=tuple(i.name for i in tokens.identities if not i.tokens and not i.subjects),
        unbounded=tuple(i.name for i in tokens.identities if "*" in i.sources and "*" in i.types),
    )


def _tls_error(settings: Settings) -> str | None:
    try:
        ReloadingTLS.from_settings(settings.ingest)
    except ConfigError as exc:
        return exc.message
    return None


def gather_security(settings: Settings) -> SecurityFacts:
    """What the security checks need; reading a file never raises (a failure is a message)."""
    ingest = settings.ingest
    facts = IngestFacts(
        host=ingest.host,
        port=ingest.port,
        auth=ingest.auth,
        token_file=_token_file(settings),
        tls=ingest.tls_cert_file is not None,
        mutual_tls=ingest.tls_client_ca_file is not None,
        tls_error=_tls_error(settings),
    )
    kafka = settings.kafka
    return SecurityFacts(
        ingest=facts,
        kafka_bootstrap=kafka.bootstrap_servers,
        kafka_protocol=kafka.security_protocol,
        kafka_client_certificate=kafka.ssl_certfile is not None,
        secret_files=_secret_files(settings),
    )
