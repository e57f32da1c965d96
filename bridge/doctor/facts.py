"""What the doctor's gatherers saw, as plain values: every failed step is a message, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class TopicFacts(NamedTuple):
    """One topic as the cluster describes it; `configs` holds the topic's effective configuration."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


@dataclass(frozen=True)
class KafkaFacts:
    """The cluster: reachable or `error`, its id and brokers, and every topic's shape (`topics_error` if unread)."""

    bootstrap_servers: str | None
    error: str | None = None
    cluster_id: str | None = None
    broker_count: int = 0
    topics: dict[str, TopicFacts] = field(default_factory=dict)
    topics_error: str | None = None


class ApiBudget(NamedTuple):
    """`DailyApiRequests` from `/limits`."""

    max_calls: int
    remaining_calls: int

    @property
    def used_calls(self) -> int:
        """Calls spent in the rolling 24 hours."""
        return max(0, self.max_calls - self.remaining_calls)


@dataclass(frozen=True)
class SalesforceFacts:
    """The org: configured or `config_error`, authenticated or `auth_error`, then versions, budget and bypass.

    A step that was not reached (because an earlier one failed) stays `None`.
    """

    login_url: str
    api_version: str
    username: str | None = None
    config_error: str | None = None
    auth_error: str | None = None
    auth_unreachable: bool = False  # the login failed to reach the server, as opposed to being refused
    instance_url: str | None = None
    versions: tuple[str, ...] | None = None
    versions_error: str | None = None
    budget: ApiBudget | None = None
    budget_error: str | None = None
    bypass_warnings: tuple[str, ...] | None = None


class SecretFile(NamedTuple):
    """A configured file that holds a secret: the setting that names it, its path, its mode (None: unreadable)."""

    setting: str
    path: str
    mode: int | None


@dataclass(frozen=True)
class TokenFileFacts:
    """The ingest's token file: unreadable or invalid (`error`), or what it holds."""

    path: str
    error: str | None = None
    identities: int = 0
    tokens: int = 0
    subjects: int = 0
    unusable: tuple[str, ...] = ()  # identities with neither a token nor a certificate subject
    unbounded: tuple[str, ...] = ()  # identities allowed any source and any type


@dataclass(frozen=True)
class IngestFacts:
    """How the HTTP ingest is set up."""

    host: str
    port: int
    auth: str
    token_file: TokenFileFacts | None
    tls: bool
    mutual_tls: bool
    tls_error: str | None


@dataclass(frozen=True)
class SecurityFacts:
    """The settings and files the security checks look at."""

    ingest: IngestFacts
    kafka_bootstrap: str | None
    kafka_protocol: str
    kafka_client_certificate: bool
    secret_files: tuple[SecretFile, ...] = ()


def describe_error(exc: BaseException, timeout_s: float) -> str:
    """Plain words for a failed step (a timeout has no message of its own)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    name = type(exc).__name__
    text = str(exc).strip()
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"
