"""A scripted Salesforce over `httpx.MockTransport`: documented payloads, every request recorded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bridge.config import SalesforceSettings
from bridge.metrics import Metrics
from bridge.salesforce import ClientCredentials, LimitInfo, SalesforceClient

LOGIN_URL = "https://login.example.test"
INSTANCE_URL = "https://acme.my.example.test"
BASE = "/services/data/v62.0"
CLIENT_SECRET = "s3cr3t-client-secret-value"
TOKEN_PREFIX = "00DACCESS!token-"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> httpx.Response:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return httpx.Response(status, json=[entry])


@dataclass
class FakeSalesforce:
    """Answers token requests itself; everything else from routes added with `on`, in order, the last repeating."""

    requests: list[httpx.Request] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)  # as sent: the auth flow re-signs request objects
    routes: list[tuple[str, re.Pattern[str], list[Answer]]] = field(default_factory=list)
    tokens_issued: int = 0
    api_usage: int = 0
    api_limit: int = 15_000

    def on(self, method: str, path_pattern: str, *answers: Answer) -> None:
        self.routes.append((method, re.compile(path_pattern), list(answers)))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/oauth2/token")]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/services/oauth2/token":
            self.tokens_issued += 1
            token = {
                "access_token": f"{TOKEN_PREFIX}{self.tokens_issued}",
                "instance_url": INSTANCE_URL,
                "id": f"{LOGIN_URL}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": "1764165600000",
                "signature": "c2lnbmF0dXJl",
            }
            return httpx.Response(200, json=token)
        self.api_usage += 1
        self.authorizations.append(request.headers.get("Authorization", ""))
        response = self._answer(request)
        response.headers.setdefault("Sforce-Limit-Info", f"api-usage={self.api_usage}/{self.api_limit}")
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        for method, pattern, answers in self.routes:
            if method == request.method and pattern.fullmatch(path):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                return answer(request) if callable(answer) else answer
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.create(CollectorRegistry())


ClientFactory = Callable[..., AbstractAsyncContextManager[SalesforceClient]]


@pytest.fixture
def make_client(fake: FakeSalesforce, metrics: Metrics) -> ClientFactory:
    """`async with make_client() as sf:` a client on the fake, with client credentials and metrics."""

    @asynccontextmanager
    async def build(
        on_limit_info: Callable[[LimitInfo], None] | None = None, **settings: Any
    ) -> AsyncIterator[SalesforceClient]:
        config = SalesforceSettings(login_url=LOGIN_URL, client_id="3MVG9app", **settings)
        auth = ClientCredentials(LOGIN_URL, "3MVG9app", SecretStr(CLIENT_SECRET))
        async with SalesforceClient(
            config, auth, transport=fake.transport, on_limit_info=on_limit_info, metrics=metrics
        ) as client:
            yield client

    return build


def calls(metrics: Metrics, kind: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value("bridge_salesforce_api_calls_total", {"kind": kind, "outcome": outcome})
    return value or 0.0
