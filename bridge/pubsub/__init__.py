"""The Salesforce Pub/Sub API: the gRPC protocol, Avro payload codec and change-event field bitmaps."""

from bridge.pubsub.avro import SchemaCache, change_event_schema, decode_payload, encode_payload, schema_id_of
from bridge.pubsub.bitmaps import decode_bitmap, encode_bitmap
from bridge.pubsub.replay import ReplayId

__all__ = [
    "ReplayId",
    "SchemaCache",
    "change_event_schema",
    "decode_bitmap",
    "decode_payload",
    "encode_bitmap",
    "encode_payload",
    "schema_id_of",
]
