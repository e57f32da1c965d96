"""The doctor's security checks: an ingest without authentication, Kafka without TLS/SASL beyond this machine,
secret files other users can read; from real settings and real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import IngestSettings, KafkaSettings, SalesforceSettings, Settings
from bridge.doctor.findings import Finding, Status
from bridge.doctor.security_checks import is_loopback, security_findings
from bridge.doctor.security_gather import gather_security
from bridge.ingest.tokens import IdentityEntry, TokenFile, new_token, write_token_file
from tests.ingest.certs import CertificateAuthority


def findings(**sections: object) -> dict[str, list[Finding]]:
    by_check: dict[str, list[Finding]] = {}
    for finding in security_findings(gather_security(Settings(**sections))):  # type: ignore[arg-type]
        by_check.setdefault(finding.check, []).append(finding)
    return by_check


def _tokens(path: Path, *identities: IdentityEntry) -> Path:
    write_token_file(path, TokenFile(identities=identities))
    return path


def _erp(**extra: object) -> IdentityEntry:
    fields: dict[str, object] = {"name": "ERP", "sources": ["erp://acme"], "types": ["com.acme.*"]}
    return IdentityEntry.model_validate(fields | {"tokens": [new_token()[1]]} | extra)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("kafka", False),
        ("broker.example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_ingest_without_authentication_fails_beyond_loopback_and_warns_on_it() -> None:
    [remote] = findings(ingest=IngestSettings(auth="none", host="0.0.0.0"))["ingest.auth"]
    [local] = findings(ingest=IngestSettings(auth="none"))["ingest.auth"]
    assert remote.status is Status.FAIL
    assert "accepts events from anyone who reaches 0.0.0.0:8080" in remote.message
    assert "crm-bridge ingest token add" in remote.fix
    assert local.status is Status.WARN
    [plain] = findings(ingest=IngestSettings(auth="none", host="0.0.0.0"))["ingest.tls"]
    assert plain.status is Status.WARN


def test_an_unconfigured_ingest_is_not_a_warning() -> None:
    checks = findings()
    assert [f.status for f in checks["ingest.auth"]] == [Status.OK]
    assert "ingest.tls" not in checks


def test_the_token_file_is_read_and_its_gaps_named(tmp_path: Path) -> None:
    good = _tokens(tmp_path / "good.json", _erp())
    [fine] = findings(ingest=IngestSettings(tokens_file=good))["ingest.auth"]
    assert (fine.status, "1 identities, 1 token(s)" in fine.message) == (Status.OK, True)
    gappy = _tokens(
        tmp_path / "gappy.json",
        _erp(tokens=[], subjects=["CN=erp"]),
        IdentityEntry(name="IDLE", sources=["x"], types=["y"]),
        _erp(name="ALL", sources=["*"], types=["*"]),
    )
    messages = [f.message for f in findings(ingest=IngestSettings(tokens_file=gappy))["ingest.auth"]]
    assert any("cannot authenticate: IDLE" in m for m in messages)
    assert any("mutual TLS is off" in m for m in messages)
    assert any("any source and any event type: ALL" in m for m in messages)
    (tmp_path / "broken.json").write_text("{")
    [broken] = findings(ingest=IngestSettings(tokens_file=tmp_path / "broken.json"))["ingest.auth"]
    assert broken.status is Status.FAIL
    assert "is invalid" in broken.message
    [missing] = findings(ingest=IngestSettings(tokens_file=tmp_path / "missing.json"))["ingest.auth"]
    assert missing.status is Status.FAIL


def test_tls_files_are_loaded_and_plain_http_beyond_loopback_warns(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    server, other = ca.issue("server", "ingest", server=True), ca.issue("other", "x", server=True)
    tokens = _tokens(tmp_path / "t.json", _erp())
    tls = {"tls_cert_file": server.cert_file, "tls_key_file": server.key_file, "tls_client_ca_file": ca.cert_file}
    [served] = findings(ingest=IngestSettings(tokens_file=tokens, host="0.0.0.0", **tls))["ingest.tls"]
    assert (served.status, "mutual TLS" in served.message) == (Status.OK, True)
    mismatched = {"tls_cert_file": server.cert_file, "tls_key_file": other.key_file}
    [bad] = findings(ingest=IngestSettings(tokens_file=tokens, **mismatched))["ingest.tls"]
    assert bad.status is Status.FAIL
    [plain] = findings(ingest=IngestSettings(tokens_file=tokens, host="0.0.0.0"))["ingest.tls"]
    assert plain.status is Status.WARN
    assert "in clear text" in plain.message
    assert "ingest.tls" not in findings(ingest=IngestSettings(tokens_file=tokens))  # 127.0.0.1 only


@pytest.mark.parametrize(
    ("protocol", "extra", "status", "fragment"),
    [
        ("PLAINTEXT", {}, Status.WARN, "not encrypted"),
        ("SASL_PLAINTEXT", {"sasl_mechanism": "PLAIN", "sasl_username": "u"}, Status.WARN, "not encrypted"),
        ("SSL", {}, Status.WARN, "not authenticated"),
        ("SASL_SSL", {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u"}, Status.OK, "authenticated (SASL)"),
    ],
)
def test_kafka_beyond_this_machine_needs_tls_and_authentication(
    protocol: str, extra: dict[str, str], status: Status, fragment: str
) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9092,broker-2:9093", security_protocol=protocol, **extra)
    [finding] = findings(kafka=kafka)["security.kafka"]
    assert finding.status is status
    assert fragment in finding.message
    if status is Status.WARN:
        assert "broker-2" in finding.message
        assert "127.0.0.1" not in finding.message


def test_kafka_on_loopback_or_with_a_client_certificate_is_fine(tmp_path: Path) -> None:
    [local] = findings(kafka=KafkaSettings(bootstrap_servers="localhost:9092"))["security.kafka"]
    assert local.status is Status.OK
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    mtls = KafkaSettings(bootstrap_servers="kafka:9093", security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=key)
    [secured] = findings(kafka=mtls)["security.kafka"]
    assert (secured.status, "a client certificate" in secured.message) == (Status.OK, True)


def test_secret_files_readable_or_writable_by_others_are_reported(tmp_path: Path) -> None:
    key, tokens = tmp_path / "sf.key", _tokens(tmp_path / "t.json", _erp())
    key.write_text("-----BEGIN PRIVATE KEY-----")
    key.chmod(0o644)
    salesforce = SalesforceSettings(private_key_file=key)
    checks = findings(salesforce=salesforce, ingest=IngestSettings(tokens_file=tokens))
    [readable] = checks["secrets[salesforce.private_key_file]"]
    [private] = checks["secrets[ingest.tokens_file]"]
    assert readable.status is Status.WARN
    assert "readable by every user of the machine (mode 0644)" in readable.message
    assert f"chmod 600 {key}" in readable.fix
    assert private.status is Status.OK  # written with mode 0600
    tokens.chmod(0o666)
    [writable] = findings(ingest=IngestSettings(tokens_file=tokens))["secrets[ingest.tokens_file]"]
    assert writable.status is Status.FAIL
    assert "anyone can replace it" in writable.message
