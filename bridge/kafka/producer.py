"""The bridge's Kafka producer: built from settings (idempotent, acks=all) and its errors mapped to ours.

    producer = create_producer(settings.kafka, settings.publisher)   # no I/O until `await producer.start()`
    try:
        await producer.send_and_wait(topic, value)
    except KafkaError as exc:
        raise map_kafka_error(exc) from exc

Retryability comes from aiokafka's own `retriable` flag (data, not an `if` chain); connection loss and
timeouts are `KafkaUnavailable`, records the broker cannot take are `EventTooLarge` or `PublishFailed`.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.helpers import create_ssl_context

from bridge.config import KafkaSettings, PublisherSettings
from bridge.errors import BridgeError, ConfigError, EventTooLarge, KafkaUnavailable, PublishFailed

# Records bigger than this are refused before they reach aiokafka; the envelope adds headers to the data.
_HEADER_ALLOWANCE_BYTES = 64 * 1024

_UNAVAILABLE = (KafkaConnectionError, KafkaTimeoutError, TimeoutError)
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


def producer_config(kafka: KafkaSettings, publisher: PublisherSettings) -> dict[str, Any]:
    """Keyword arguments for `AIOKafkaProducer`: idempotent, acks=all, timeouts and security from settings."""
    if not kafka.bootstrap_servers:
        raise ConfigError("kafka.bootstrap_servers is not set (BRIDGE_KAFKA__BOOTSTRAP_SERVERS)")
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": publisher.linger_ms,
        "max_batch_size": publisher.max_batch_bytes,
        "max_request_size": publisher.max_event_bytes + _HEADER_ALLOWANCE_BYTES,
        "compression_type": publisher.compression_type,
        # aiokafka expires a batch that finds no leader in this time: it bounds a publish to a dead cluster.
        "request_timeout_ms": int(kafka.request_timeout_s * 1000),
        "security_protocol": kafka.security_protocol,
    }
    config.update(_security(kafka))
    return config


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        try:
            extra["ssl_context"] = create_ssl_context(
                cafile=_path(kafka.ssl_cafile), certfile=_path(kafka.ssl_certfile), keyfile=_path(kafka.ssl_keyfile)
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load kafka.ssl_cafile/ssl_certfile/ssl_keyfile: {exc}") from exc
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_mechanism is None or kafka.sasl_username is None or kafka.sasl_password is None:
            raise ConfigError("SASL needs kafka.sasl_mechanism, kafka.sasl_username and kafka.sasl_password")
        extra["sasl_mechanism"] = kafka.sasl_mechanism
        extra["sasl_plain_username"] = kafka.sasl_username
        extra["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return extra


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)


def create_producer(kafka: KafkaSettings, publisher: PublisherSettings) -> AIOKafkaProducer:
    """A producer configured from settings. Call inside the event loop; it connects on `start()`."""
    return AIOKafkaProducer(**producer_config(kafka, publisher))


def map_kafka_error(exc: BaseException) -> BridgeError:
    """Translate an aiokafka (or timeout) error into the bridge's hierarchy, keeping the reason."""
    if isinstance(exc, BridgeError):
        return exc
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _TOO_LARGE):
        return EventTooLarge(f"the broker refused the record as too large ({reason})")
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "retriable", False):
        return KafkaUnavailable(f"Kafka did not acknowledge ({reason})")
    if isinstance(exc, KafkaError):
        return PublishFailed(f"the broker refused the record ({reason})")
    return PublishFailed(f"publishing failed ({reason})")
