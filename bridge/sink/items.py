"""The units the sink works with: a write read from Kafka (`WriteItem`) and a batch of them for one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.processing.records import MappedRecord
from bridge.types import Lane

Headers = tuple[tuple[str, bytes], ...]


class WritePath(StrEnum):
    """How a batch goes to Salesforce."""

    COLLECTIONS = "collections"  # sObject Collections upsert, <= 200 records, allOrNone
    BULK = "bulk"  # a Bulk API 2.0 ingest job
    EVENTS = "events"  # Platform Events (`X__e`): published one per call, never upserted
    DELETE = "delete"  # one SOQL query for the Ids of <= 200 external IDs, then one Collections delete


DELETE_MAX_IDS = 200  # `DELETE /composite/sobjects?ids=` takes at most 200 Ids
BULK_JOB_CALLS = 8  # create, upload, close, a few polls, results: what one Bulk API job costs (and is reserved)


def is_platform_event(sobject: str) -> bool:
    """Platform Events are published (created), not upserted: their API names end in `__e`."""
    return sobject.endswith("__e")


@dataclass(slots=True, eq=False)
class WriteItem:
    """One record read from a write topic, with its retry state. Identity equality: each read is one item."""

    topic: str
    partition: int
    offset: int
    record: MappedRecord
    key: bytes | None
    value: bytes
    headers: Headers
    read_at_s: float
    attempts: int = 0
    not_before_s: float = 0.0
    parent_wait_since_s: float | None = None
    parent_waits: int = 0
    upstream_generation: int = 0  # the upstream snapshot that covers what was published before it was read
    missing_generation: int = 0  # the same, after the CRM last said its parent was missing
    _parents: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Computed once: the queue asks for every pending record's parents each time it forms a batch.
        self._parents = self.record.parent_keys

    @property
    def record_key(self) -> str:
        """`sobject:external_id`: the key that may be in only one batch at a time."""
        return self.record.key

    @property
    def route(self) -> str:
        """The Kafka key it was read with: the parent key it shares a partition with (or its own key)."""
        return self.key.decode(errors="replace") if self.key else self.record.key

    @property
    def parent_keys(self) -> tuple[str, ...]:
        """Keys (`Account:C-1`) of the parents this record references by external ID."""
        return self._parents

    def payload(self) -> dict[str, Any]:
        """The record as Salesforce's Collections upsert takes it: the fields plus the external ID."""
        body = dict(self.record.fields)
        body[self.record.external_id_field] = self.record.external_id
        return body


@dataclass(frozen=True, slots=True)
class Batch:
    """Records of one lane and SObject for one Salesforce call; no external ID appears twice."""

    lane: Lane
    sobject: str
    external_id_field: str
    path: WritePath
    items: tuple[WriteItem, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.items)
