"""One batch of Kafka records through the pipeline: what to produce, which states to store, how to count.

The edge (faust) feeds records and a state lookup, produces `outbound`, waits for the acknowledgements, then
stores `states` and acknowledges the input, in that order: a crash in between redoes the batch, and redoing
it is harmless (upserts by external ID). Several writes of one key in a batch are coalesced into one.

    result = process_batch(records, context, lookup=states.get)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.config import TopicSettings
from bridge.events import SchemaRegistry
from bridge.processing.debezium import Tombstone, decode_debezium
from bridge.processing.dedupe import KeyState, coalesce
from bridge.processing.intake import decode_record
from bridge.processing.pipeline import Pipeline, Rejected, Skipped, Write
from bridge.processing.records import InboundEvent, MappedRecord, Origin
from bridge.processing.routing import (
    REPLAY_HEADER,
    DeadLetter,
    Headers,
    Outbound,
    Refusal,
    dead_letter_message,
    refusal_message,
    write_message,
)
from bridge.processing.validation import NotEvaluated, Violation
from bridge.types import Outcome, SkipReason


@dataclass(frozen=True, slots=True)
class InRecord:
    """A consumed Kafka record."""

    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None  # the broker's timestamp of the record: when the bridge took the event


@dataclass(frozen=True, slots=True)
class Accounted:
    """How one input record was accounted for (invariant 1): outcome, and the reason when not written."""

    topic: str
    outcome: Outcome
    reason: str | None = None
    stage: str | None = None
    sobject: str | None = None
    violations: tuple[Violation, ...] = ()
    not_evaluable: tuple[NotEvaluated, ...] = ()


@dataclass(slots=True)
class BatchResult:
    """Records to produce, key states to store (with the partition that owns each key), and the tally."""

    outbound: list[Outbound] = field(default_factory=list)
    states: dict[str, tuple[int, KeyState]] = field(default_factory=dict)
    accounted: list[Accounted] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What a batch needs besides its records."""

    pipeline: Pipeline
    registry: SchemaRegistry
    topics: TopicSettings
    max_event_bytes: int


def _reject(result: BatchResult, record: InRecord, rejected: Rejected, topics: TopicSettings) -> None:
    letter = DeadLetter(
        rejected.stage,
        rejected.reason,
        rejected.detail,
        record.origin,
        record.key,
        record.value or b"",
        record.headers,
    )
    result.outbound.append(dead_letter_message(letter, topics))
    result.accounted.append(
        Accounted(
            record.origin.topic,
            Outcome.DEAD_LETTERED,
            rejected.reason,
            rejected.stage,
            rejected.sobject,
            rejected.violations,
            rejected.not_evaluable,
        )
    )


def _refusal(
    mapped: MappedRecord, rejected: Rejected, state: KeyState | None, context: BatchContext
) -> Outbound | None:
    """The refusal notice for a record other mappings reference as a parent and that was never applied (an
    update refused leaves the record as it was in the org, and its children can still be written)."""
    if mapped.sobject not in context.pipeline.mappings.parent_sobjects:
        return None
    if state is not None and state.content_hash is not None:
        return None
    refusal = Refusal(
        mapped.sobject, mapped.external_id_field, mapped.external_id, mapped.lane, rejected.reason, rejected.detail
    )
    return refusal_message(refusal, context.topics)


@dataclass(frozen=True, slots=True)
class _Refused:
    rejected: Rejected
    notice: Outbound | None = None


def _decode(record: InRecord, context: BatchContext) -> InboundEvent | Tombstone | Rejected:
    if record.origin.topic in context.pipeline.mappings.debezium_topics:
        size = len(record.value or b"")
        if size > context.max_event_bytes:
            return Rejected("decode", "too_large", f"record is {size} bytes; the limit is {context.max_event_bytes}")
        return decode_debezium(record.origin.topic, record.key, record.value)
    return decode_record(
        record.key, record.value, record.headers, context.registry, max_event_bytes=context.max_event_bytes
    )


def _decide(
    record: InRecord, context: BatchContext, states: dict[str, tuple[int, KeyState]], lookup: Lookup
) -> tuple[MappedRecord, Write | Skipped] | _Refused | Tombstone:
    event = _decode(record, context)
    if isinstance(event, Tombstone):
        return event
    if isinstance(event, Rejected):
        return _Refused(event)
    mapped = context.pipeline.map(event)
    if isinstance(mapped, Rejected):
        return _Refused(mapped)
    known = states.get(mapped.key)
    state = known[1] if known else lookup(mapped.key)
    if state is not None and _refused_before(mapped, state, record):
        return mapped, Skipped(mapped.key, SkipReason.DUPLICATE, f"{mapped.event_ids[0]} was dead-lettered", state)
    decision = context.pipeline.decide(mapped, state)
    if isinstance(decision, Rejected):
        notice = _refusal(mapped, decision, state, context)
        # Stored after the dead letter is acknowledged (the changelog follows the outbound records).
        seen = state.refused if state else ()
        refused = (*seen, *(e for e in mapped.event_ids if e not in seen))[-context.pipeline.dedupe.recent_event_ids :]
        states[mapped.key] = (record.origin.partition, dataclasses.replace(state or KeyState(), refused=refused))
        return _Refused(decision, notice)
    states[mapped.key] = (record.origin.partition, decision.state)
    return mapped, decision


Lookup = Callable[[str], KeyState | None]


def _refused_before(mapped: MappedRecord, state: KeyState, record: InRecord) -> bool:
    """Every event of `mapped` was dead-lettered already, and this is not an operator's replay of it."""
    if any(name == REPLAY_HEADER for name, _ in record.headers):
        return False
    return bool(mapped.event_ids) and all(event_id in state.refused for event_id in mapped.event_ids)


def process_batch(records: Sequence[InRecord], context: BatchContext, lookup: Lookup) -> BatchResult:
    """Decide every record in order (each sees the state left by the ones before it), then coalesce writes.

    Order of what is produced: dead letters and refusal notices as they come, then the writes, parents
    (records without parent references) before children; a parent and its children share a partition (their
    route), so the sink reads a parent's write or refusal before the children of this batch."""
    result = BatchResult()
    pending: list[tuple[MappedRecord, Accounted]] = []
    for record in records:
        decided = _decide(record, context, result.states, lookup)
        if isinstance(decided, Tombstone):
            result.accounted.append(Accounted(record.origin.topic, Outcome.SKIPPED, SkipReason.TOMBSTONE.value))
            continue
        if isinstance(decided, _Refused):
            _reject(result, record, decided.rejected, context.topics)
            if decided.notice is not None:
                result.outbound.append(decided.notice)
            continue
        mapped, decision = decided
        if isinstance(decision, Skipped):
            result.accounted.append(Accounted(record.origin.topic, Outcome.SKIPPED, decision.reason.value))
            continue
        accounted = Accounted(
            record.origin.topic, Outcome.WRITTEN, sobject=mapped.sobject, not_evaluable=decision.not_evaluable
        )
        write = decision.record
        if record.timestamp_ms is not None:
            write = dataclasses.replace(write, ingested_ms=record.timestamp_ms)
        pending.append((write, accounted))
    writes, _ = coalesce(write for write, _ in pending)
    last_of_key = {write.key: index for index, (write, _) in enumerate(pending)}
    for index, (write, accounted) in enumerate(pending):
        if last_of_key[write.key] == index:
            result.accounted.append(accounted)
        else:
            result.accounted.append(Accounted(accounted.topic, Outcome.SKIPPED, SkipReason.COALESCED.value))
    # Stable: parents first, then children, then deletes (after the writes they may cascade over), else in order.
    writes.sort(key=lambda write: (write.is_delete, bool(write.parents)))
    result.outbound.extend(write_message(write, context.topics) for write in writes)
    return result
