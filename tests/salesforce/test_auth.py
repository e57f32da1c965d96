"""OAuth flows: the JWT assertion, the token request forms, settings, and secrets kept out of sight."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.errors import ConfigError
from bridge.salesforce import (
    AuthenticationFailed,
    ClientCredentials,
    JwtBearer,
    SalesforceError,
    ServerUnavailable,
    SessionExpired,
    auth_from_settings,
)
from tests.salesforce.conftest import CLIENT_SECRET, LOGIN_URL, TOKEN_PREFIX, ClientFactory, FakeSalesforce

NOW = 1_764_165_600.0


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_jwt_assertion_claims(rsa_key: rsa.RSAPrivateKey, key_pem: str) -> None:
    auth = JwtBearer(LOGIN_URL, "3MVG9app", "sync@acme.test", private_key_pem=SecretStr(key_pem), clock=lambda: NOW)
    request = auth.token_request()
    form = _form(request)
    assert request.url == f"{LOGIN_URL}/services/oauth2/token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert jwt.get_unverified_header(form["assertion"])["alg"] == "RS256"
    claims = jwt.decode(
        form["assertion"], rsa_key.public_key(), algorithms=["RS256"], audience=LOGIN_URL, options={"verify_exp": False}
    )
    assert claims["iss"] == "3MVG9app"
    assert claims["sub"] == "sync@acme.test"
    assert claims["aud"] == LOGIN_URL
    assert 0 < claims["exp"] - NOW <= 180


def test_jwt_reads_the_key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, key_pem: str) -> None:
    key_file = tmp_path / "sf.key"
    key_file.write_text(key_pem)
    auth = JwtBearer(LOGIN_URL, "3MVG9app", "sync@acme.test", private_key_file=key_file)
    assertion = _form(auth.token_request())["assertion"]
    assert (
        jwt.decode(assertion, rsa_key.public_key(), algorithms=["RS256"], audience=LOGIN_URL)["sub"] == "sync@acme.test"
    )


def test_jwt_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    auth = JwtBearer(LOGIN_URL, "3MVG9app", "u", private_key_file=tmp_path / "absent.key")
    with pytest.raises(ConfigError, match=r"absent\.key"):
        auth.token_request()


def test_jwt_needs_exactly_one_key(key_pem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        JwtBearer(LOGIN_URL, "c", "u")
    with pytest.raises(ConfigError):
        JwtBearer(LOGIN_URL, "c", "u", private_key_pem=SecretStr(key_pem), private_key_file=tmp_path / "k")


def test_client_credentials_form() -> None:
    form = _form(ClientCredentials(LOGIN_URL, "3MVG9app", SecretStr(CLIENT_SECRET)).token_request())
    assert form == {"grant_type": "client_credentials", "client_id": "3MVG9app", "client_secret": CLIENT_SECRET}


def test_auth_from_settings(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    jwt_settings = SalesforceSettings(client_id="c", username="u", private_key_file=key)
    assert isinstance(auth_from_settings(jwt_settings), JwtBearer)
    cc = SalesforceSettings(auth_flow="client_credentials", client_id="c", client_secret=SecretStr("x"))
    assert isinstance(auth_from_settings(cc), ClientCredentials)
    with pytest.raises(ConfigError, match="client_secret"):
        auth_from_settings(SalesforceSettings(auth_flow="client_credentials", client_id="c"))
    with pytest.raises(ConfigError, match="private_key_file"):
        auth_from_settings(SalesforceSettings(client_id="c", username="u"))
    with pytest.raises(ConfigError, match="client_id"):
        auth_from_settings(SalesforceSettings())


def test_reprs_hide_secrets(key_pem: str) -> None:
    jwt_auth = JwtBearer(LOGIN_URL, "3MVG9app", "u", private_key_pem=SecretStr(key_pem))
    cc = ClientCredentials(LOGIN_URL, "3MVG9app", SecretStr(CLIENT_SECRET))
    for text in (repr(jwt_auth), str(jwt_auth), repr(cc), str(cc)):
        assert "PRIVATE KEY" not in text
        assert CLIENT_SECRET not in text
        assert "3MVG9app" in text


async def test_secrets_stay_out_of_reprs_logs_and_errors(
    make_client: ClientFactory, fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("GET", r".*/limits", httpx.Response(200, json={"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}))
    fake.on(
        "GET",
        r".*/sobjects/Account/describe",
        httpx.Response(401, json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
    )
    caplog.set_level(logging.DEBUG)
    async with make_client() as sf:
        await sf.limits()
        with pytest.raises(SessionExpired) as raised:
            await sf.describe("Account")
        shown = [
            repr(sf),
            repr(sf.auth),
            repr(sf.auth.session),
            str(sf.auth.session),
            str(raised.value),
            repr(raised.value),
        ]
    shown.append(caplog.text)
    assert fake.tokens_issued == 2
    for text in shown:
        assert TOKEN_PREFIX not in text
        assert CLIENT_SECRET not in text


async def test_token_refusal_is_authentication_failed(make_client: ClientFactory, fake: FakeSalesforce) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        fake.requests.append(request)
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
        )

    fake.handle = refuse  # type: ignore[method-assign]
    async with make_client() as sf:
        with pytest.raises(AuthenticationFailed) as raised:
            await sf.limits()
    assert raised.value.error_code == "invalid_grant"
    assert not raised.value.retryable
    assert CLIENT_SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, None, ServerUnavailable),
        (200, {"access_token": "x"}, AuthenticationFailed),
        (200, {"instance_url": "https://x.test"}, AuthenticationFailed),
        (401, {"error": "invalid_client_id", "error_description": "client identifier invalid"}, AuthenticationFailed),
    ],
)
def test_unusable_token_answers(status: int, body: object, kind: type[SalesforceError]) -> None:
    auth = ClientCredentials(LOGIN_URL, "3MVG9app", SecretStr(CLIENT_SECRET))
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html/>")
    with pytest.raises(kind):
        auth.accept_token_response(response)
    assert auth.session is None
