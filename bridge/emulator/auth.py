"""OAuth 2.0 endpoints: the token endpoint (client credentials, JWT bearer, username-password) and userinfo.

Errors are OAuth-shaped objects (`{"error", "error_description"}`, HTTP 400), not REST error arrays.
The username-password flow accepts any profile user with the fixed test password `emulator-password`.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.org import Org
from bridge.emulator.profile import ConnectedApp, UserSpec
from bridge.emulator.responses import JSON, error
from bridge.emulator.sessions import signature
from bridge.errors import BridgeError

TEST_PASSWORD = "emulator-password"  # noqa: S105 - the emulator's documented fixed test password
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthRefused(BridgeError):
    """The token request is refused with an OAuth `error` and `error_description`."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def instance_url(request: Request) -> str:
    """The URL clients call the org on: the scheme and host this request came to."""
    return f"{request.url.scheme}://{request.url.netloc}"


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _app_by_id(org: Org, client_id: str) -> ConnectedApp:
    app = next((a for a in org.profile.connected_apps if a.client_id == client_id), None)
    if app is None:
        raise OAuthRefused("invalid_client_id", "client identifier invalid")
    return app


def _client_credentials(org: Org, form: dict[str, str], authorization: str) -> tuple[ConnectedApp, UserSpec]:
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:]).decode()
        client_id, _, client_secret = decoded.partition(":")
    app = _app_by_id(org, client_id)
    if client_secret != app.client_secret:
        raise OAuthRefused("invalid_client", "invalid client credentials")
    return app, org.user(app.run_as)


def _jwt_bearer(org: Org, form: dict[str, str], audience: str) -> tuple[ConnectedApp, UserSpec]:
    assertion = form.get("assertion", "")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuthRefused("invalid_grant", "invalid assertion") from exc
    app = _app_by_id(org, str(claims.get("iss", "")))
    if not app.public_key_pem:
        raise OAuthRefused("invalid_grant", "user hasn't approved this consumer")
    try:
        jwt.decode(
            assertion,
            app.public_key_pem,
            algorithms=["RS256"],
            audience=[*AUDIENCES, audience],
            options={"require": ["exp", "iss", "sub", "aud"]},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as exc:
        raise OAuthRefused("invalid_grant", "expired authorization code") from exc
    except jwt.InvalidAudienceError as exc:
        raise OAuthRefused("invalid_grant", "audience is invalid") from exc
    except jwt.PyJWTError as exc:
        raise OAuthRefused("invalid_grant", "invalid assertion") from exc
    user = org.profile.user(str(claims["sub"]))
    if user is None:
        raise OAuthRefused("invalid_grant", "invalid user")
    return app, user


def _password(org: Org, form: dict[str, str]) -> tuple[ConnectedApp, UserSpec]:
    app = _app_by_id(org, form.get("client_id", ""))
    user = org.profile.user(form.get("username", ""))
    if user is None or form.get("password") != TEST_PASSWORD or form.get("client_secret") != app.client_secret:
        raise OAuthRefused("invalid_grant", "authentication failure")
    return app, user


def _grant(org: Org, form: dict[str, str], authorization: str, instance: str) -> tuple[ConnectedApp, UserSpec]:
    grant = form.get("grant_type", "")
    if grant == "client_credentials":
        return _client_credentials(org, form, authorization)
    if grant == JWT_BEARER:
        return _jwt_bearer(org, form, instance)
    if grant == "password":
        return _password(org, form)
    raise OAuthRefused("unsupported_grant_type", "grant type not supported")


def token_endpoint(org: Org) -> Route:
    """`POST /services/oauth2/token`."""

    async def token(request: Request) -> Response:
        form = _form(await request.body())
        instance = instance_url(request)
        try:
            app, user = _grant(org, form, request.headers.get("authorization", ""), instance)
        except OAuthRefused as refused:
            return JSON({"error": refused.code, "error_description": refused.description}, status_code=400)
        session = org.sessions.issue(user, app)
        issued_at = str(int(time.time() * 1000))
        return JSON(
            {
                "access_token": session.token,
                "instance_url": instance,
                "id": f"{instance}/id/{org.profile.org_id}/{user.id}",
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature(app.client_secret, user.id, issued_at),
                "scope": "api",
            }
        )

    return Route("/services/oauth2/token", token, methods=["POST"])


def userinfo_endpoint(org: Org) -> Route:
    """`GET /services/oauth2/userinfo`: who the bearer token runs as."""

    async def userinfo(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        session = org.sessions.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if session is None:
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        user = session.user
        return JSON(
            {
                "sub": f"{instance_url(request)}/id/{org.profile.org_id}/{user.id}",
                "user_id": user.id,
                "organization_id": org.profile.org_id,
                "preferred_username": user.username,
                "name": user.name,
                "nickname": user.alias,
            }
        )

    return Route("/services/oauth2/userinfo", userinfo, methods=["GET"])
