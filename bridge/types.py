"""The shared vocabulary: small value types that several components speak."""

from __future__ import annotations

from enum import StrEnum


class Lane(StrEnum):
    """Priority lane of a write: a person is waiting (`realtime`) or a batch sync is running (`bulk`)."""

    REALTIME = "realtime"
    BULK = "bulk"


class Outcome(StrEnum):
    """How an event that entered the bridge was accounted for (invariant 1, conservation)."""

    WRITTEN = "written"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


class SkipReason(StrEnum):
    """Why an event was skipped without a write."""

    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    STALE = "stale"
    ECHO = "echo"
    COALESCED = "coalesced"
    IGNORED = "ignored"  # a delete whose mapping says `delete.action: ignore`
    TOMBSTONE = "tombstone"  # a Kafka tombstone (null value) after a Debezium delete: nothing to write


class Operation(StrEnum):
    """What a write does to its record in Salesforce: upsert it by external ID, or delete it (looked up by
    external ID). `ignore` is a delete that its mapping tells the bridge to leave alone (never on a write topic).
    """

    UPSERT = "upsert"
    DELETE = "delete"
    IGNORE = "ignore"
