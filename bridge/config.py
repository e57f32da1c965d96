"""Configuration: one frozen pydantic-settings root model built once at the edge.

Environment variables use the prefix `BRIDGE_` and `__` for nesting, for example
`BRIDGE_KAFKA__BOOTSTRAP_SERVERS=broker:9092` or `BRIDGE_GOVERNOR__REALTIME_RESERVE=0.25`.
Secrets are `SecretStr` and never appear in logs, errors, metrics or reprs.

Tests build settings with keyword arguments: `Settings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092"))`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """How to reach the Kafka cluster. Without `bootstrap_servers` the tools start a local broker."""

    bootstrap_servers: str | None = None
    client_id: str = "crm-bridge"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    request_timeout_s: float = Field(default=30.0, gt=0)
    delivery_timeout_s: float = Field(default=120.0, gt=0)


class TopicSettings(_Section):
    """Names and shape of the bridge's topics."""

    domain_prefix: str = "domain."
    realtime: str = "crm.writes.realtime"
    bulk: str = "crm.writes.bulk"
    dlq: str = "crm.dlq"
    results: str = "crm.results"
    cdc_prefix: str = "crm.cdc."
    events_prefix: str = "crm.events."
    source_checkpoints: str = "crm.source.checkpoints"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class PublisherSettings(_Section):
    """The Publisher SDK: idempotent producer, acks=all, schema check before send."""

    max_event_bytes: int = Field(default=1_000_000, gt=0)
    linger_ms: int = Field(default=5, ge=0)
    max_batch_bytes: int = Field(default=1_048_576, gt=0)
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None


class IngestSettings(_Section):
    """The HTTP ingest endpoint (`POST /v1/events`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=5_000_000, gt=0)
    ack_timeout_s: float = Field(default=10.0, gt=0)  # no Kafka ack in this time: 503, never 202


class MetricsSettings(_Section):
    """Where every worker serves `/metrics`, `/healthz` and `/readyz`."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class SalesforceSettings(_Section):
    """How to reach and authenticate against the Salesforce org."""

    login_url: str = "https://login.salesforce.com"
    api_version: str = "62.0"
    auth_flow: Literal["jwt_bearer", "client_credentials"] = "jwt_bearer"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    private_key_file: Path | None = None
    call_options_client: str = "crm-bridge"
    timeout_s: float = Field(default=60.0, gt=0)
    max_connections: int = Field(default=10, ge=1)
    verify_tls: bool = True


class GovernorSettings(_Section):
    """API budget shaping shared by every sink worker of a deployment."""

    daily_limit_calls: int | None = Field(default=None, ge=1)
    realtime_reserve: float = Field(default=0.2, ge=0.0, lt=1.0)
    safety_margin_calls: int = Field(default=50, ge=0)
    max_concurrency: int = Field(default=10, ge=1)
    bucket_capacity_calls: int = Field(default=50, ge=1)
    starvation_guard_s: float = Field(default=30.0, gt=0)


class SinkSettings(_Section):
    """The sink: batching, the Bulk API threshold and retries."""

    batch_size: int = Field(default=200, ge=1, le=200)
    bulk_threshold_records: int = Field(default=10_000, ge=1)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    batch_linger_s: float = Field(default=0.5, ge=0)
    parent_wait_s: float = Field(default=600.0, gt=0)  # a child whose parent never appears: DLQ after this
    group_id: str = "crm-bridge-sink"


class ProcessorSettings(_Section):
    """The stream processor: dedupe and coalescing."""

    app_id: str = "crm-bridge-processor"
    coalesce_window_s: float = Field(default=2.0, ge=0)
    schemas_dir: Path | None = None
    max_batch_records: int = Field(default=1_000, ge=1)
    not_evaluable: Literal["pass_through", "reject"] = "pass_through"
    recent_event_ids: int = Field(default=16, ge=1)
    source_topics: tuple[str, ...] = ()
    # Global merge fields the integration user sees, for validation rules that read them, as JSON, e.g.
    # {"$Setup": {"Integration_Bypass__c": {"All__c": true}}}; a rule reading an absent one is not evaluable.
    merge_fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    org_dir: Path | None = None  # an org snapshot (crm-bridge catalog); read from the org at start when unset


class SourceSettings(_Section):
    """The CDC / Platform Event source: Pub/Sub API channels onto Kafka with transactional checkpoints."""

    pubsub_target: str = "api.pubsub.salesforce.com:7443"
    pubsub_tls: bool = True
    tenant_id: str | None = None
    channels: tuple[str, ...] = ("/data/ChangeEvents",)
    num_requested: int = Field(default=100, ge=1, le=100)
    transactional_id: str = "crm-bridge-source"
    watchdog_s: float = Field(default=300.0, gt=0)
    retry_backoff_s: float = Field(default=1.0, gt=0)
    retry_backoff_max_s: float = Field(default=30.0, gt=0)
    first_start: Literal["EARLIEST", "LATEST"] = "EARLIEST"


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
