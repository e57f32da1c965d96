"""The ingest over TLS on a real socket: HTTPS, a certificate replaced on disk while serving, mutual TLS."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography import x509

from bridge.errors import ConfigError
from bridge.ingest import ReloadingTLS
from tests.ingest.certs import CertificateAuthority, Issued
from tests.ingest.conftest import STRUCTURED, Schemas, TokenFileHandle, customer, running_ingest

pytestmark = pytest.mark.kafka


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path)


def _client(ca: CertificateAuthority, cert: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca.cert_file)
    if cert is not None:
        context.load_cert_chain(cert.cert_file, cert.key_file)
    return context


def _install(issued: Issued, cert_file: Path, key_file: Path) -> None:
    shutil.copyfile(issued.cert_file, cert_file)
    shutil.copyfile(issued.key_file, key_file)


async def _served_serial(port: int, context: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number
    finally:
        writer.close()
        await writer.wait_closed()


async def test_https_and_a_certificate_replaced_on_disk_is_served_without_a_restart(
    *,
    bootstrap: str,
    schemas: Schemas,
    token_file: TokenFileHandle,
    ca: CertificateAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    first, second = ca.issue("first", "ingest", server=True), ca.issue("second", "ingest", server=True)
    _install(first, cert_file, key_file)
    tls = ReloadingTLS(cert_file, key_file, interval_s=0)
    client = _client(ca)
    bearer = token_file.bearer("ERP")
    async with running_ingest(bootstrap, schemas, token_file.path, tls=tls, verify=client, headers=bearer) as ingest:
        assert str(ingest.client.base_url).startswith("https://")
        port = ingest.client.base_url.port
        assert port is not None
        response = await ingest.client.post("/v1/events", content=orjson.dumps(customer()), headers=STRUCTURED)
        assert response.status_code == 202
        assert await _served_serial(port, client) == first.cert.serial_number
        _install(second, cert_file, key_file)
        assert await _served_serial(port, client) == second.cert.serial_number
        # A key that does not match the certificate: logged, and the last good certificate stays in use.
        shutil.copyfile(first.key_file, key_file)
        with caplog.at_level(logging.ERROR, logger="bridge.ingest.tls"):
            assert await _served_serial(port, client) == second.cert.serial_number
        assert "cannot load the ingest TLS files" in caplog.text
        assert tls.reloads == 1


async def test_a_verified_client_certificate_listed_in_the_token_file_is_its_identity(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle, ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = ca.issue("server", "ingest", server=True)
    billing = ca.issue("billing", "billing.acme.internal")
    stranger = ca.issue("stranger", "stranger.acme.internal")
    (tmp_path / "other").mkdir()
    other_ca = CertificateAuthority(tmp_path / "other", "Other CA")
    forged = other_ca.issue("forged", "billing.acme.internal")  # the same subject, from a CA the ingest does not trust
    subject = billing.cert.subject.rfc4514_string()
    assert subject == "CN=billing.acme.internal,O=Acme"
    token_file.add("BILLING", subjects=(subject,), sources=("erp://test",))
    tls = ReloadingTLS(server.cert_file, server.key_file, ca.cert_file, interval_s=0)
    body = orjson.dumps(customer())
    async with running_ingest(bootstrap, schemas, token_file.path, tls=tls, verify=_client(ca, billing)) as ingest:
        by_certificate = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
        # A token beats the certificate when both are sent.
        by_token = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED | token_file.bearer("ERP"))
    async with running_ingest(bootstrap, schemas, token_file.path, tls=tls, verify=_client(ca, stranger)) as ingest:
        unlisted = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
    async with running_ingest(bootstrap, schemas, token_file.path, tls=tls, verify=_client(ca)) as ingest:
        without = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
        token_only = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED | token_file.bearer("ERP"))
        records = await ingest.records()
    async with running_ingest(bootstrap, schemas, token_file.path, tls=tls, verify=_client(ca, forged)) as ingest:
        with pytest.raises(httpx.TransportError):  # the server ends the handshake: no request is read
            await ingest.client.post("/v1/events", content=body, headers=STRUCTURED | token_file.bearer("ERP"))
        assert await ingest.end_offsets() == len(records)
    assert (by_certificate.status_code, by_token.status_code) == (202, 202)
    assert (unlisted.status_code, without.status_code, token_only.status_code) == (401, 401, 202)
    identities = sorted((dict(r.headers)["ce_authid"], dict(r.headers)["ce_authtype"]) for r in records)
    assert identities == [(b"BILLING", b"service_account"), (b"ERP", b"api_key"), (b"ERP", b"api_key")]


def test_unusable_tls_files_stop_the_ingest_before_it_serves(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue("server", "ingest", server=True)
    other = ca.issue("other", "ingest", server=True)
    with pytest.raises(ConfigError, match="cannot load the ingest TLS files"):
        ReloadingTLS(issued.cert_file, other.key_file)
    with pytest.raises(ConfigError, match="cannot load the ingest TLS files"):
        ReloadingTLS(tmp_path / "missing.pem", issued.key_file)
