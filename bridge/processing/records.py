"""The value types that flow through the processor core: an inbound event, its origin, a mapped record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.types import Lane, Operation


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read from: enough to find it again, and to report it on the DLQ."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """A decoded CloudEvent as the processor sees it (envelope attributes plus the `data` object).

    `sobject`, `externalid`, `sequence` and `lane` are the bridge's CloudEvents extension attributes.
    """

    id: str
    type: str
    source: str
    data: Mapping[str, Any]
    time: str | None = None
    subject: str | None = None
    sobject: str | None = None
    externalid: str | None = None
    sequence: int | None = None
    lane: str | None = None
    authid: str | None = None  # the producer the ingest verified (CloudEvents auth-context `authid`)

    def attribute(self, name: str) -> Any:
        """An envelope attribute by its CloudEvents name (`id`, `type`, `time`, `sequence`, ...)."""
        if name in _ATTRIBUTES:
            return getattr(self, name)
        return None


_ATTRIBUTES = frozenset({"id", "type", "source", "time", "subject", "sobject", "externalid", "sequence", "lane"})


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """An SObject record ready for an upsert by external ID, with the version that orders it.

    `parents` maps each relationship field that references a parent by external ID to the parent's key
    (`{"Account": "Account:C-1"}`). `routed_by` is the Kafka key of its writes once the processor has chosen it
    (see `route`); `first_write` says the bridge never applied the key before (as far as its dedupe state knows).

    >>> MappedRecord("Account", "External_Id__c", "C-1", {"Name": "Acme"}, Lane.REALTIME, 3, ("e1",)).key
    'Account:C-1'
    """

    sobject: str
    external_id_field: str
    external_id: str
    fields: Mapping[str, Any]
    lane: Lane
    version: int | None
    event_ids: tuple[str, ...] = field(default=())
    parents: Mapping[str, str] = field(default_factory=dict)
    routed_by: str | None = None
    first_write: bool = False
    authids: tuple[str, ...] = field(default=())  # the verified producers of its events (invariant 8)
    ingested_ms: int | None = None  # broker time its earliest event was stored (the domain record's timestamp)
    operation: Operation = Operation.UPSERT  # a delete carries no fields: the sink looks its Id up by external ID

    @property
    def is_delete(self) -> bool:
        """A delete of the record (by external ID), not an upsert."""
        return self.operation is Operation.DELETE

    @property
    def key(self) -> str:
        """The state key and the key of its outcomes: `sobject:external_id`."""
        return f"{self.sobject}:{self.external_id}"

    @property
    def parent_keys(self) -> tuple[str, ...]:
        """The keys of the parents this record references, in mapping order."""
        return tuple(self.parents.values())

    @property
    def route(self) -> str:
        """The Kafka key of its writes: the first parent's key, so that a parent and its children share a
        partition (one sink worker sees both, in the order they were produced), else its own key. Once chosen
        for a key the route sticks (`routed_by`), so every version of a re-parented child stays on one
        partition and in order."""
        if self.routed_by is not None:
            return self.routed_by
        return next(iter(self.parents.values()), self.key)
