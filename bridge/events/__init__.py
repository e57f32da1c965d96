"""Events: the CloudEvents envelope, its Kafka and HTTP codecs, and the registry of event schemas."""

from bridge.events.envelope import (
    BATCH_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    CloudEvent,
    KafkaRecord,
    decode_kafka,
    decode_structured,
    encode_data,
    encode_kafka,
    encode_structured,
    kafka_headers,
    kafka_key,
    parse_batch,
    parse_structured,
    to_structured,
)
from bridge.events.schemas import EventSpec, SchemaRegistry

__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "CloudEvent",
    "EventSpec",
    "KafkaRecord",
    "SchemaRegistry",
    "decode_kafka",
    "decode_structured",
    "encode_data",
    "encode_kafka",
    "encode_structured",
    "kafka_headers",
    "kafka_key",
    "parse_batch",
    "parse_structured",
    "to_structured",
]
