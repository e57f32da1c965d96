"""OAuth 2.0 server-to-server sessions as httpx auth flows: JWT bearer and client credentials.

The flow does no I/O of its own: it yields the token request, reads the answer, signs the API request, and on a
401 `INVALID_SESSION_ID` refreshes once and resends once. A second 401 ends the flow; the client raises
`SessionExpired`. Secrets (private key, client secret, access token) never appear in reprs or error messages.

    auth = JwtBearer("https://login.salesforce.com", client_id="3MVG9...", username="sync@acme.com",
                     private_key_file=Path("/run/secrets/sf.key"))
    async with SalesforceClient(settings, auth) as sf: ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.errors import ConfigError
from bridge.salesforce.errors import AuthenticationFailed, SalesforceError, ServerUnavailable

JWT_LIFETIME_S = 180  # Salesforce accepts assertions that expire within 3 minutes
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUTH_KIND = "auth"  # the `kind` label of token requests in the API call metrics


@dataclass(frozen=True, slots=True)
class Session:
    """An access token and the instance it is valid for."""

    access_token: SecretStr
    instance_url: str
    issued_at: datetime


class SalesforceAuth(httpx.Auth):
    """Base of the flows: holds the current session, signs requests, refreshes once on INVALID_SESSION_ID."""

    requires_response_body = True

    def __init__(self, login_url: str, client_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._clock = clock
        self.session: Session | None = None

    def token_form(self) -> dict[str, str]:
        """The form fields of a token request."""
        raise NotImplementedError

    def token_request(self) -> httpx.Request:
        """A fresh `POST /services/oauth2/token` for this flow."""
        return httpx.Request(
            "POST",
            f"{self.login_url}/services/oauth2/token",
            data=self.token_form(),
            headers={"Accept": "application/json"},
            extensions={"bridge_kind": AUTH_KIND},
        )

    def accept_token_response(self, response: httpx.Response) -> Session:
        """Turn the token endpoint's answer into the current session, or raise why it is not one."""
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise _token_error(response.status_code, body)
        if not body.get("instance_url"):
            raise AuthenticationFailed("NO_INSTANCE_URL", "the token response names no instance_url", (), 200)
        self.session = Session(
            access_token=SecretStr(str(body["access_token"])),
            instance_url=str(body["instance_url"]).rstrip("/"),
            issued_at=self._issued_at(body.get("issued_at")),
        )
        return self.session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.session is None:
            self.accept_token_response((yield self.token_request()))
        signed_with = self._sign(request)
        response = yield request
        if not is_invalid_session(response):
            return
        if self.session is signed_with:  # nobody refreshed meanwhile: this request does it
            self.accept_token_response((yield self.token_request()))
        self._sign(request)
        yield request

    def _sign(self, request: httpx.Request) -> Session:
        session = self.session
        assert session is not None  # noqa: S101 - auth_flow fetched one first
        instance = httpx.URL(session.instance_url)
        request.url = request.url.copy_with(scheme=instance.scheme, host=instance.host, port=instance.port)
        request.headers["Host"] = instance.netloc.decode("ascii")
        request.headers["Authorization"] = f"Bearer {session.access_token.get_secret_value()}"
        return session

    def _issued_at(self, raw: Any) -> datetime:
        try:
            return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
        except (TypeError, ValueError):
            return datetime.fromtimestamp(self._clock(), tz=UTC)


class JwtBearer(SalesforceAuth):
    """OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's private key."""

    def __init__(
        self,
        login_url: str,
        client_id: str,
        username: str,
        *,
        private_key_pem: SecretStr | None = None,
        private_key_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (private_key_pem is None) == (private_key_file is None):
            raise ConfigError("JwtBearer needs exactly one of private_key_pem and private_key_file")
        super().__init__(login_url, client_id, clock=clock)
        self.username = username
        self._private_key_pem = private_key_pem
        self.private_key_file = private_key_file

    def assertion(self) -> str:
        """The signed JWT: iss = client id, sub = username, aud = login URL, exp = now + 3 minutes."""
        now = int(self._clock())
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.login_url, "exp": now + JWT_LIFETIME_S}
        return jwt.encode(claims, self._key(), algorithm="RS256")

    def token_form(self) -> dict[str, str]:
        return {"grant_type": _JWT_GRANT, "assertion": self.assertion()}

    def _key(self) -> str:
        if self._private_key_pem is not None:
            return self._private_key_pem.get_secret_value()
        assert self.private_key_file is not None  # noqa: S101 - checked in __init__
        try:
            return self.private_key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise ConfigError(f"cannot read the private key file {self.private_key_file}: {exc.strerror}") from None

    def __repr__(self) -> str:
        key = f"private_key_file={str(self.private_key_file)!r}" if self.private_key_file else "private_key_pem=***"
        return (
            f"JwtBearer(login_url={self.login_url!r}, client_id={self.client_id!r}, username={self.username!r}, {key})"
        )


class ClientCredentials(SalesforceAuth):
    """OAuth 2.0 client credentials flow (the org's My Domain token URL; runs as the app's run-as user)."""

    def __init__(
        self, login_url: str, client_id: str, client_secret: SecretStr, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(login_url, client_id, clock=clock)
        self._client_secret = client_secret

    def token_form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }

    def __repr__(self) -> str:
        return f"ClientCredentials(login_url={self.login_url!r}, client_id={self.client_id!r}, client_secret=***)"


def auth_from_settings(settings: SalesforceSettings, *, clock: Callable[[], float] = time.time) -> SalesforceAuth:
    """The auth flow the settings ask for; `ConfigError` when a field it needs is missing."""
    if not settings.client_id:
        raise ConfigError("salesforce.client_id is required")
    if settings.auth_flow == "client_credentials":
        if settings.client_secret is None:
            raise ConfigError("salesforce.client_secret is required for the client_credentials flow")
        return ClientCredentials(settings.login_url, settings.client_id, settings.client_secret, clock=clock)
    if not settings.username or settings.private_key_file is None:
        raise ConfigError("salesforce.username and salesforce.private_key_file are required for the jwt_bearer flow")
    return JwtBearer(
        settings.login_url,
        settings.client_id,
        settings.username,
        private_key_file=settings.private_key_file,
        clock=clock,
    )


def is_invalid_session(response: httpx.Response) -> bool:
    """True for Salesforce's `401 [{"errorCode": "INVALID_SESSION_ID", ...}]`."""
    if response.status_code != 401:
        return False
    body = _json_or_none(response)
    entries = body if isinstance(body, list) else [body]
    return any(isinstance(e, dict) and e.get("errorCode") == "INVALID_SESSION_ID" for e in entries)


def _token_error(status: int, body: Any) -> SalesforceError:
    """OAuth errors are objects (`{"error", "error_description"}`), never echoing the credentials sent."""
    entry = body if isinstance(body, dict) else {}
    code = str(entry.get("error") or f"HTTP_{status}")
    description = str(entry.get("error_description") or "token request refused")
    if status >= 500 or status == 429:
        return ServerUnavailable(code, description, (), status)
    return AuthenticationFailed(code, description, (), status)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
