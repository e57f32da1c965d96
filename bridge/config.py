"""Configuration: one frozen pydantic-settings root model built once at the edge.

Environment variables use the prefix `BRIDGE_` and `__` for nesting, for example
`BRIDGE_KAFKA__BOOTSTRAP_SERVERS=broker:9092` or `BRIDGE_GOVERNOR__REALTIME_RESERVE=0.25`.
Secrets are `SecretStr` and never appear in logs, errors, metrics or reprs.

Tests build settings with keyword arguments: `Settings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092"))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    # Each field's docstring is its description: the README's configuration reference is generated from it.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class KafkaSettings(_Section):
    """How to reach the Kafka cluster. Without `bootstrap_servers` the tools start a local broker."""

    bootstrap_servers: str | None = None
    """Comma-separated `host:port` list. Unset: the demo and the tests start a local broker."""
    client_id: str = "crm-bridge"
    """Prefix of every Kafka client id (role names are appended)."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 when SASL is used."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: SecretStr | None = None
    """SASL password (a secret: never logged)."""
    ssl_cafile: Path | None = None
    """PEM bundle of the CAs that signed the brokers' certificates (SSL, SASL_SSL); unset: the system's CAs."""
    ssl_certfile: Path | None = None
    """PEM client certificate for mutual TLS to the brokers (its subject is the Kafka principal)."""
    ssl_keyfile: Path | None = None
    """PEM private key of `ssl_certfile` (a secret file: mode 0600 or 0400)."""
    request_timeout_s: float = Field(default=30.0, gt=0)
    """Timeout of one Kafka request."""
    delivery_timeout_s: float = Field(default=120.0, gt=0)
    """How long a produced record may take to be acknowledged before the send fails."""

    @model_validator(mode="after")
    def _client_certificate_pairs(self) -> KafkaSettings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("kafka.ssl_certfile and kafka.ssl_keyfile go together (mutual TLS)")
        return self


class TopicSettings(_Section):
    """Names and shape of the bridge's topics."""

    domain_prefix: str = "domain."
    """Prefix of the domain topics the source systems publish to (`domain.<system>.<entity>`)."""
    realtime: str = "crm.writes.realtime"
    """Writes a person is waiting for (priority lane)."""
    bulk: str = "crm.writes.bulk"
    """Batch writes (nightly syncs, backfills)."""
    dlq: str = "crm.dlq"
    """Dead letters: every rejected record with its reason and original payload."""
    results: str = "crm.results"
    """One outcome per written record (Salesforce Id, created or updated)."""
    cdc_prefix: str = "crm.cdc."
    """Change events from Salesforce, one topic per SObject (`crm.cdc.Account`)."""
    events_prefix: str = "crm.events."
    """Platform Events from Salesforce (`crm.events.Order_Event__e`)."""
    source_checkpoints: str = "crm.source.checkpoints"
    """Compacted topic of the source's replay-id checkpoints."""
    partitions: int = Field(default=6, ge=1)
    """Partitions of the topics the bridge creates."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication factor of the topics the bridge creates (3 in production)."""


class PublisherSettings(_Section):
    """The Publisher SDK: idempotent producer, acks=all, schema check before send."""

    max_event_bytes: int = Field(default=1_000_000, gt=0)
    """Largest encoded event accepted; larger ones are refused with EventTooLarge."""
    linger_ms: int = Field(default=5, ge=0)
    """Producer linger: how long a batch waits to fill."""
    max_batch_bytes: int = Field(default=1_048_576, gt=0)
    """Producer batch size in bytes."""
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    """gzip, snappy, lz4 or zstd; unset: none."""


class IngestSettings(_Section):
    """The HTTP ingest endpoint (`POST /v1/events`)."""

    host: str = "127.0.0.1"
    """Address the HTTP ingest endpoint binds (0.0.0.0 in a container)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Port of the HTTP ingest endpoint."""
    max_body_bytes: int = Field(default=5_000_000, gt=0)
    """Largest request body; larger ones get 413."""
    ack_timeout_s: float = Field(default=10.0, gt=0)
    """No Kafka ack within this time: 503, never 202."""
    auth: Literal["required", "none"] = "required"
    """`required`: every request needs a bearer token of `tokens_file` or a client certificate it lists; `none`
    (a local demo only): anyone who reaches the port may publish."""
    tokens_file: Path | None = None
    """JSON file of the identities, their grants and their tokens' SHA-256 hashes (`crm-bridge ingest token`);
    re-read on change, so tokens rotate without a restart."""
    tls_cert_file: Path | None = None
    """PEM certificate (chain) the ingest serves HTTPS with; unset: plain HTTP. Reloaded on change."""
    tls_key_file: Path | None = None
    """PEM private key of `tls_cert_file` (a secret file: mode 0600 or 0400). Reloaded on change."""
    tls_client_ca_file: Path | None = None
    """PEM CAs whose client certificates are verified (mutual TLS); a verified subject listed in `tokens_file`
    authenticates as its identity. Needs `tls_cert_file`."""
    reload_interval_s: float = Field(default=1.0, ge=0)
    """How often the token file and the TLS files are checked for changes (at most; checked on use)."""
    rate_per_s: float = Field(default=200.0, gt=0)
    """Events per second an identity may publish, unless its entry in `tokens_file` says otherwise."""
    burst_events: int = Field(default=2_000, ge=1)
    """Events an identity may publish at once before `rate_per_s` applies (unless its entry says otherwise)."""
    max_batch_events: int = Field(default=1_000, ge=1)
    """Most events in one batch request; more get 413."""
    body_timeout_s: float = Field(default=10.0, gt=0)
    """The whole body must arrive within this time, else 408 (a slow client holds no worker)."""
    header_timeout_s: float = Field(default=10.0, gt=0)
    """A new connection must send its request headers within this time, else it is closed."""
    max_connections: int = Field(default=1_000, ge=1)
    """Concurrent connections and requests; beyond them new requests get 503."""

    @model_validator(mode="after")
    def _tls_files(self) -> IngestSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("ingest.tls_cert_file and ingest.tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("ingest.tls_client_ca_file (mutual TLS) needs ingest.tls_cert_file and tls_key_file")
        return self


class MetricsSettings(_Section):
    """Where every worker serves `/metrics`, `/healthz` and `/readyz`."""

    host: str = "127.0.0.1"
    """Address `/metrics`, `/healthz` and `/readyz` bind (0.0.0.0 in a container)."""
    port: int = Field(default=9108, ge=0, le=65535)
    """Port of `/metrics`, `/healthz` and `/readyz` (`run all`: this port and the next ones)."""


class SalesforceSettings(_Section):
    """How to reach and authenticate against the Salesforce org."""

    login_url: str = "https://login.salesforce.com"
    """OAuth endpoint: login.salesforce.com, test.salesforce.com or a My Domain URL."""
    api_version: str = "62.0"
    """REST API version used in every path (`/services/data/v62.0`)."""
    auth_flow: Literal["jwt_bearer", "client_credentials"] = "jwt_bearer"
    """`jwt_bearer` (private key + connected app) or `client_credentials`."""
    client_id: str | None = None
    """The connected app's consumer key."""
    client_secret: SecretStr | None = None
    """The connected app's consumer secret (client credentials flow; a secret)."""
    username: str | None = None
    """The integration user (the JWT's `sub`; the user whose trigger bypass is checked)."""
    private_key_file: Path | None = None
    """PEM private key whose certificate is on the connected app (JWT bearer flow)."""
    call_options_client: str = "crm-bridge"
    """Sent as `Sforce-Call-Options: client=...` on every call; change events naming it are echoes."""
    duplicate_rule_allow_save: bool = False
    """Send `Sforce-Duplicate-Rule-Header: allowSave=true`: records an alert-only duplicate rule flags are saved
    anyway (a blocking rule still refuses them, as DUPLICATES_DETECTED naming the matching records)."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Timeout of one HTTP request to Salesforce."""
    max_connections: int = Field(default=10, ge=1)
    """HTTP connection pool size."""
    verify_tls: bool = True
    """Verify Salesforce's TLS certificate (turn off only for a local emulator)."""


class GovernorSettings(_Section):
    """API budget shaping shared by every sink worker of a deployment."""

    daily_limit_calls: int | None = Field(default=None, ge=1)
    """The org's daily API allocation; unset: taken from what Salesforce reports."""
    realtime_reserve: float = Field(default=0.2, ge=0.0, lt=1.0)
    """Share of the daily budget only real-time writes may spend."""
    safety_margin_calls: int = Field(default=50, ge=0)
    """Calls never spent, covering other workers' calls in flight between two reports."""
    max_concurrency: int = Field(default=10, ge=1)
    """Concurrent Salesforce calls of the whole deployment (divided among sink workers)."""
    bucket_capacity_calls: int = Field(default=1_000, ge=1)
    """Token bucket burst: bulk calls that go at full speed before the spread rate (budget left / day left) applies.

    A nightly job smaller than this runs as fast as the concurrency cap allows; a larger backlog is spread over the
    rest of the day instead of burning the budget other work needs later."""
    starvation_guard_s: float = Field(default=30.0, gt=0)
    """Bulk work gets a turn after waiting this long behind real-time work."""


class SinkSettings(_Section):
    """The sink: batching, the Bulk API threshold and retries."""

    batch_size: int = Field(default=200, ge=1, le=200)
    """Records per sObject Collections upsert (at most 200)."""
    bulk_threshold_records: int = Field(default=10_000, ge=1)
    """Pending bulk-lane records of one SObject from which a Bulk API 2.0 job is used."""
    max_attempts: int = Field(default=8, ge=1)
    """Attempts of a transient failure before the record is dead-lettered."""
    backoff_base_s: float = Field(default=0.5, gt=0)
    """First retry delay (exponential, full jitter)."""
    backoff_max_s: float = Field(default=60.0, gt=0)
    """Longest retry delay."""
    batch_linger_s: float = Field(default=0.5, ge=0)
    """Bulk lane: a partial batch goes once no record has joined it for this long (while records flow, batches fill)."""
    batch_max_linger_s: float = Field(default=5.0, ge=0)
    """Bulk lane: the longest a partial batch waits to fill, however steadily records trickle in."""
    bulk_budget_share: float = Field(default=0.5, ge=0, le=1)
    """Below this share of the bulk lane's daily allowance left (or when the allowance would not carry a backlog on
    Collections), bulk backlogs go as Bulk API 2.0 jobs (1,000+ records a call) instead of Collections (200); 0: the
    budget never chooses the path, only `bulk_threshold_records` does."""
    parent_wait_s: float = Field(default=600.0, gt=0)
    """The longest a child waits for a parent the CRM does not have (retried meanwhile) before it is dead-lettered as
    `parent_not_found`; a parent written or refused meanwhile ends the wait at once."""
    parent_wait_drained: bool = True
    """End that wait early once everything published before the CRM's refusal has been processed and read without
    the parent showing up (it is nowhere in the bridge); off for source systems that send parents long after."""
    realtime_slo_s: float = Field(default=2.0, gt=0)
    """The real-time lane's latency objective (ingest → Salesforce's answer, p99), exported as
    `bridge_realtime_latency_slo_seconds`; the shipped alert `CrmBridgeRealtimeLatencySlo` fires above it."""
    group_id: str = "crm-bridge-sink"
    session_timeout_s: float = Field(default=30.0, ge=6.0)  # the consumer's group session (heartbeats every 3 s)
    """Consumer group of the sink workers (they share partitions and the API budget)."""


class ProcessorSettings(_Section):
    """The stream processor: dedupe and coalescing."""

    app_id: str = "crm-bridge-processor"
    """faust app id: the consumer group and the prefix of the changelog topic."""
    coalesce_window_s: float = Field(default=2.0, ge=0)
    """Updates of one key arriving within this window become one write."""
    schemas_dir: Path | None = None
    """Folder with `events/`, `mappings/` and `envelope.schema.json`; unset: the bundled `schemas/`."""
    max_batch_records: int = Field(default=1_000, ge=1)
    """Records the processor decides on per batch."""
    max_fetch_bytes: int = Field(default=65_536, ge=1_024)
    """Bytes fetched ahead per partition: a real-time event queues behind at most this much of each bulk one."""
    not_evaluable: Literal["pass_through", "reject"] = "pass_through"
    """A validation rule the local evaluator cannot decide: `pass_through` (the CRM decides) or `reject`."""
    recent_event_ids: int = Field(default=16, ge=1)
    """Event ids remembered per key to drop redeliveries."""
    source_topics: tuple[str, ...] = ()
    """Domain topics to read (JSON list); unset: those the event schemas name."""
    merge_fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Merge fields for validation rules (JSON), e.g. `{"$Setup": {"Integration_Bypass__c": {"All__c": true}}}`."""
    org_dir: Path | None = None
    """Org snapshot for validation (`crm-bridge catalog --out DIR`); unset: read from the org at start."""


class SourceSettings(_Section):
    """The CDC / Platform Event source: Pub/Sub API channels onto Kafka with transactional checkpoints."""

    pubsub_target: str = "api.pubsub.salesforce.com:7443"
    """The Pub/Sub API endpoint (`host:port`)."""
    pubsub_tls: bool = True
    """Use TLS to the Pub/Sub API (off only for a local emulator)."""
    tenant_id: str | None = None
    """The org id sent as `tenantid`; unset: read from the org."""
    channels: tuple[str, ...] = ("/data/ChangeEvents",)
    """Channels to subscribe (JSON list): `/data/ChangeEvents`, `/data/AccountChangeEvent`, `/event/Order_Event__e`."""
    num_requested: int = Field(default=100, ge=1, le=100)
    """Events requested per FetchRequest (flow control, at most 100)."""
    transactional_id: str = "crm-bridge-source"
    """Kafka transactional id; the same in every instance, so a zombie is fenced."""
    watchdog_s: float = Field(default=300.0, gt=0)
    """Resubscribe when nothing (not even a keepalive) arrives for this long."""
    retry_backoff_s: float = Field(default=1.0, gt=0)
    """First delay before resubscribing after an error."""
    retry_backoff_max_s: float = Field(default=30.0, gt=0)
    """Longest delay before resubscribing."""
    first_start: Literal["EARLIEST", "LATEST"] = "EARLIEST"
    """Where a channel without a checkpoint starts: EARLIEST (retained events) or LATEST."""


class Settings(BaseSettings):
    """The root of the configuration. Build once at the edge and pass sections down."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    publisher: PublisherSettings = PublisherSettings()
    ingest: IngestSettings = IngestSettings()
    metrics: MetricsSettings = MetricsSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    governor: GovernorSettings = GovernorSettings()
    sink: SinkSettings = SinkSettings()
    processor: ProcessorSettings = ProcessorSettings()
    source: SourceSettings = SourceSettings()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """The settings `environ` gives, read as the process's environment would be (`os.environ` is not read):
        how a parent builds the settings of the roles it starts with that environment."""
        source = _MappingEnvSource(cls, environ)

        class _FromMapping(cls):  # type: ignore[valid-type,misc]
            @classmethod
            def settings_customise_sources(
                cls,
                settings_cls: type[BaseSettings],
                init_settings: PydanticBaseSettingsSource,
                **_sources: PydanticBaseSettingsSource,
            ) -> tuple[PydanticBaseSettingsSource, ...]:
                return (init_settings, source)

        return _FromMapping()


class _MappingEnvSource(EnvSettingsSource):
    """`BRIDGE_*` variables from a mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._environ)
        return {name.lower(): value for name, value in self._environ.items()}
