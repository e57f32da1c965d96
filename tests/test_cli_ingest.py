"""`crm-bridge ingest token`: the token is printed once and only its hash is written; rotate, revoke, grant."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import orjson
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.config import IngestSettings
from bridge.ingest.auth import Authenticator
from bridge.ingest.tokens import read_token_file


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ingest", "token", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_prints_the_token_once_and_writes_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    code, out, err = run("add", "ERP", "--source", "erp://acme", "--type", "com.acme.crm.*", "--file", str(path))
    assert code == 0, err
    token = out.strip()
    assert token.startswith("crmb_")
    assert "shown this once" in err
    raw = path.read_text()
    assert token not in raw
    assert token.split("_", 2)[2] not in raw
    assert hashlib.sha256(token.encode()).hexdigest() in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity = Authenticator(path, IngestSettings()).authenticate(f"Bearer {token}", None)
    assert identity is not None
    assert identity.name == "ERP"
    assert identity.grants.refusal(source="erp://acme", type="com.acme.crm.customer.upserted") is None
    code, _, err = run("add", "ERP", "--source", "x", "--type", "y", "--file", str(path))
    assert (code, "exists already" in err) == (1, True)
    code, out, err = run("add", "ERP", "--source", "x", "--type", "y", "--file", str(path), "--exist-ok")
    assert (code, out) == (0, "")  # a set-up script run twice prints no second token


def test_rotate_keeps_both_tokens_valid_until_the_old_one_is_revoked(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    _, old, _ = run("add", "ERP", "--source", "erp://acme", "--type", "t.*", "--file", str(path))
    code, new, err = run("rotate", "ERP", "--file", str(path))
    assert code == 0, err
    old_id = old.strip().split("_")[1]
    assert f"revoke ERP --token-id {old_id}" in err
    auth = Authenticator(path, IngestSettings())
    assert auth.authenticate(f"Bearer {old.strip()}", None) is not None
    assert auth.authenticate(f"Bearer {new.strip()}", None) is not None
    code, _, err = run("rotate", "ERP", "--file", str(path))
    assert (code, "revoke the old one first" in err) == (1, True)
    assert run("revoke", "ERP", "--token-id", old_id, "--file", str(path))[0] == 0
    auth = Authenticator(path, IngestSettings())
    assert auth.authenticate(f"Bearer {old.strip()}", None) is None
    assert auth.authenticate(f"Bearer {new.strip()}", None) is not None
    code, _, err = run("revoke", "ERP", "--token-id", old_id, "--file", str(path))
    assert (code, "has no token" in err) == (1, True)


def test_grant_list_and_remove(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    run("add", "ERP", "--source", "erp://acme", "--type", "t.*", "--file", str(path))
    code, _, err = run(
        "grant", "ERP", "--type", "com.acme.crm.customer.upserted", "--rate-per-s", "5", "--file", str(path)
    )
    assert code == 0, err
    erp = read_token_file(path).identity("ERP")
    assert erp is not None
    assert (erp.sources, erp.types, erp.rate_per_s, len(erp.tokens)) == (
        ("erp://acme",),
        ("com.acme.crm.customer.upserted",),
        5.0,
        1,
    )
    code, out, _ = run("list", "--json", "--file", str(path))
    listed = orjson.loads(out)["identities"]
    assert [i["name"] for i in listed] == ["ERP"]
    assert "sha256" not in out
    assert run("remove", "ERP", "--file", str(path))[0] == 0
    assert read_token_file(path).identities == ()
    code, _, err = run("rotate", "NOBODY", "--file", str(path))
    assert (code, "no identity 'NOBODY'" in err) == (1, True)


def test_an_mtls_only_identity_and_the_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    env = {"BRIDGE_INGEST__TOKENS_FILE": str(path)}
    code, _, err = run("add", "BILLING", "--source", "b://x", "--type", "t.*", "--no-token", env=env)
    assert (code, "needs --subject" in err) == (2, True)
    code, out, err = run(
        "add", "BILLING", "--source", "b://x", "--type", "t.*", "--no-token", "--subject", "CN=b,O=A", env=env
    )
    assert (code, out) == (0, "")
    assert Authenticator(path, IngestSettings()).authenticate(None, "CN=b,O=A") is not None
    code, _, err = run("list", env={"BRIDGE_INGEST__TOKENS_FILE": None})  # unset
    assert (code, "BRIDGE_INGEST__TOKENS_FILE" in err) == (2, True)
