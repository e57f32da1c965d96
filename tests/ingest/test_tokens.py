"""The token file: token format, hashing, constant-time checks, validation, atomic writes."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from bridge.config import IngestSettings
from bridge.errors import ConfigError
from bridge.ingest.auth import Authenticator
from bridge.ingest.tokens import (
    IdentityEntry,
    TokenEntry,
    TokenFile,
    new_token,
    read_token_file,
    token_hash,
    token_id,
    write_token_file,
)


def test_a_token_is_prefixed_carries_its_id_and_256_random_bits() -> None:
    token, entry = new_token()
    prefix, ident, secret = token.split("_", 2)
    assert prefix == "crmb"
    assert ident == entry.id == token_id(token)
    assert len(secret) == 43  # 32 bytes, URL-safe base64 without padding
    assert entry.sha256 == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert token not in entry.model_dump_json()
    assert new_token()[0] != token


@pytest.mark.parametrize("text", ["", "crmb", "crmb_abc_x", "crmb_0123456789_x", "xxxx_01234567_x", "crmb_01234567_"])
def test_malformed_tokens_have_no_id(text: str) -> None:
    assert token_id(text) is None


def test_a_new_id_avoids_the_ids_taken() -> None:
    taken = {new_token()[1].id for _ in range(50)}
    assert new_token(taken)[1].id not in taken


def _file(*identities: IdentityEntry) -> TokenFile:
    return TokenFile(identities=identities)


def test_names_token_ids_and_subjects_are_unique_and_an_identity_has_at_most_two_tokens() -> None:
    one = TokenEntry(id="00000001", sha256="0" * 64)
    two = TokenEntry(id="00000002", sha256="1" * 64)
    three = TokenEntry(id="00000003", sha256="2" * 64)
    base = {"sources": ["s"], "types": ["t"]}
    with pytest.raises(ValueError, match="identity name 'A' appears twice"):
        _file(IdentityEntry(name="A", **base), IdentityEntry(name="A", **base))
    with pytest.raises(ValueError, match="token id '00000001' appears twice"):
        _file(IdentityEntry(name="A", tokens=[one], **base), IdentityEntry(name="B", tokens=[one], **base))
    with pytest.raises(ValueError, match="certificate subject 'CN=x' appears twice"):
        _file(IdentityEntry(name="A", subjects=["CN=x"], **base), IdentityEntry(name="B", subjects=["CN=x"], **base))
    with pytest.raises(ValueError, match="at most 2"):
        IdentityEntry(name="A", tokens=[one, two, three], **base)
    with pytest.raises(ValueError, match="printable"):
        IdentityEntry(name="A\nB", **base)


def test_the_file_is_written_atomically_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    _, entry = new_token()
    tokens = _file(IdentityEntry(name="ERP", sources=["erp://acme"], types=["com.acme.*"], tokens=[entry]))
    write_token_file(path, tokens)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token_file(path) == tokens
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]  # no temporary file left behind


def test_an_invalid_file_is_a_config_error_that_does_not_echo_its_content(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(
        '{"identities": [{"name": "A", "sources": ["s"], "types": ["t"], "tokens": '
        '[{"id": "zz", "sha256": "secret-looking-value"}]}]}'
    )
    with pytest.raises(ConfigError) as caught:
        read_token_file(path)
    assert "identities.0.tokens.0.id" in caught.value.message
    assert "secret-looking-value" not in caught.value.message


def test_the_authenticator_checks_tokens_by_id_and_hash_and_subjects(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token, entry = new_token()
    identity = IdentityEntry(
        name="ERP",
        sources=["erp://acme"],
        types=["com.acme.*"],
        tokens=[entry],
        subjects=["CN=erp,O=Acme"],
        rate_per_s=5,
    )
    write_token_file(path, _file(identity))
    auth = Authenticator(path, IngestSettings(burst_events=7))
    found = auth.authenticate(f"Bearer {token}", None)
    assert found is not None
    assert (found.name, found.authtype.value, found.credential) == ("ERP", "api_key", entry.id)
    assert (found.rate_per_s, found.burst_events) == (5, 7)  # the entry's rate, the settings' burst
    by_subject = auth.authenticate(None, "CN=erp,O=Acme")
    assert by_subject is not None
    assert (by_subject.authtype.value, by_subject.credential) == ("service_account", "mtls")
    assert auth.authenticate(f"Bearer {token}x", None) is None
    assert auth.authenticate(None, "CN=erp,O=Other") is None
    assert auth.authenticate(f"Bearer {token}", "CN=erp,O=Acme").credential == entry.id  # type: ignore[union-attr]
    assert token not in repr(auth)
