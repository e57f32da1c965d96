"""One batch to Salesforce through the governor: Collections upsert (allOrNone), a Bulk API 2.0 job, or
Platform Events (`X__e` records on a write topic), published over the Pub/Sub API's PublishStream when the writer
can (`EventWriter`), each with a correlation key derived from its record so a resend is recognised, and otherwise
with `POST /sobjects/X__e`, one per call.

The executor turns every record of a batch into an `Outcome` (`Written` or a `Failure` saying what to do next).
A failed all-or-none Collections call is taken apart here: records Salesforce names as the cause (a validation
error, a missing parent) get their own failure, the rolled-back rest is sent again at once, and when the cause
is not attributed to a record the batch is split in halves until it is (bisect). Only the sink decides about
retries and dead letters; the executor never sleeps except inside the governor's gate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from bridge.governor import GovernorGate
from bridge.metrics import Metrics
from bridge.processing.records import MappedRecord
from bridge.pubsub.errors import PubSubError
from bridge.pubsub.publisher import EventOutcome, OutgoingEvent
from bridge.salesforce.bulk import BulkResult
from bridge.salesforce.errors import SalesforceError
from bridge.salesforce.results import SaveResult
from bridge.sink.deletes import RecordDeleter, delete_outcomes, find_ids
from bridge.sink.items import BULK_JOB_CALLS, Batch, WriteItem, WritePath
from bridge.sink.outcomes import Failure, FailureKind, Outcome, Written

MAX_POLL_INTERVAL_S = 60.0


def first_poll_s(records: int) -> float:
    """When to ask first how a job is doing: every poll is an API call, and a job takes longer the larger it is
    (about a millisecond a record is a fair first guess), so large jobs are polled later; then the interval
    doubles up to `MAX_POLL_INTERVAL_S`."""
    return min(MAX_POLL_INTERVAL_S, max(1.0, records / 1_000))


_ISOLATED_KINDS = frozenset({FailureKind.PERMANENT, FailureKind.PARENT_MISSING})
_UNEXPLAINED = Failure(FailureKind.ROLLED_BACK, "UNEXPLAINED", "no per-record result for this record")
Results = list[tuple[WriteItem, Outcome]]


class RecordWriter(RecordDeleter, Protocol):
    """The part of `bridge.salesforce.SalesforceClient` the sink needs (a fake implements it in tests)."""

    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], all_or_none: bool
    ) -> list[SaveResult]: ...

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> SaveResult: ...

    async def bulk_upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        poll_interval_s: float = ...,
        max_poll_interval_s: float = ...,
    ) -> BulkResult: ...


@runtime_checkable
class EventWriter(Protocol):
    """A writer that also publishes Platform Events with per-event results (`bridge.pubsub.EventPublisher`)."""

    async def publish_events(self, sobject: str, events: Sequence[OutgoingEvent]) -> list[EventOutcome]: ...


_EVENT_KEYS = uuid.UUID("0b6d5f0e-2f4e-4c39-8f8e-6b1f0c3a9d27")  # names the bridge's Platform Event ids


def correlation_key(record: MappedRecord) -> str:
    """The event's id on the bus, the same every time this record is sent: a UUID from its key and event ids
    (or its version when it has none), so a resend after a crash or a lost answer names the same event."""
    origin = record.event_ids or (f"v{record.version}",)
    return str(uuid.uuid5(_EVENT_KEYS, "\x1f".join((record.key, *origin))))


class BatchExecutor:
    """Sends batches; one instance per sink, shared by its concurrent batch tasks."""

    def __init__(
        self, writer: RecordWriter, gate: GovernorGate, metrics: Metrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._writer = writer
        self._gate = gate
        self._metrics = metrics
        self._clock = clock

    async def write(self, batch: Batch) -> Results:
        """Every record of `batch` with its outcome."""
        if batch.path is WritePath.BULK:
            return await self._bulk(batch)
        if batch.path is WritePath.DELETE:
            return await self._delete(batch)
        if batch.path is WritePath.EVENTS:
            if isinstance(self._writer, EventWriter):
                return await self._publish_stream(batch, self._writer)
            return [(item, await self._publish(batch, item)) for item in batch.items]
        return await self._collections(batch, list(batch.items))

    # -- Collections --------------------------------------------------------------------------------------

    async def _collections(self, batch: Batch, items: list[WriteItem]) -> Results:
        try:
            results = await self._call_collections(batch, items)
        except SalesforceError as exc:
            failure = Failure.from_exception(exc)
            if failure.kind is FailureKind.PERMANENT and len(items) > 1:
                return await self._bisect(batch, items)
            return [(item, failure) for item in items]
        if len(results) != len(items):
            return [(item, _UNEXPLAINED) for item in items]
        return await self._sort_results(batch, items, results)

    async def _sort_results(self, batch: Batch, items: list[WriteItem], results: list[SaveResult]) -> Results:
        outcomes: Results = []
        innocents: list[WriteItem] = []
        for item, result in zip(items, results, strict=True):
            if result.success:
                outcomes.append((item, Written(result.id, result.created)))
            elif not result.errors:
                innocents.append(item)
            else:
                failure = Failure.from_error(result.errors[0])
                if failure.kind is FailureKind.ROLLED_BACK:
                    innocents.append(item)
                else:
                    outcomes.append((item, failure))
        if not innocents:
            return outcomes
        causes = [outcome for _, outcome in outcomes if isinstance(outcome, Failure)]
        if not causes:  # every record rolled back and none named as the cause: find it by splitting
            return outcomes + (await self._bisect(batch, innocents) if len(innocents) > 1 else [])
        if all(cause.kind in _ISOLATED_KINDS for cause in causes):
            return outcomes + await self._collections(batch, innocents)
        return outcomes + [(item, _UNEXPLAINED) for item in innocents]  # the sink resends them as it must

    async def _bisect(self, batch: Batch, items: list[WriteItem]) -> Results:
        middle = len(items) // 2
        self._metrics.retries.labels(component="sink", reason="bisect").inc()
        return await self._collections(batch, items[:middle]) + await self._collections(batch, items[middle:])

    async def _call_collections(self, batch: Batch, items: list[WriteItem]) -> list[SaveResult]:
        records = [item.payload() for item in items]
        async with self._gate.acquire(batch.lane, 1):
            started = self._clock()
            try:
                return await self._writer.upsert_collection(
                    batch.sobject, batch.external_id_field, records, all_or_none=True
                )
            finally:
                self._observe("collections", batch, len(items), started)

    # -- deletes ------------------------------------------------------------------------------------------

    async def _delete(self, batch: Batch) -> Results:
        """One query for the Ids, one Collections delete of those found (see `bridge.sink.deletes`)."""
        try:
            async with self._gate.acquire(batch.lane, 1):
                ids = await find_ids(self._writer, batch)
            results: list[SaveResult] = []
            if ids:
                async with self._gate.acquire(batch.lane, 1):
                    started = self._clock()
                    try:
                        results = await self._writer.delete_collection(list(ids.values()), all_or_none=False)
                    finally:
                        self._observe("delete", batch, len(ids), started)
        except SalesforceError as exc:
            return [(item, Failure.from_exception(exc)) for item in batch.items]
        return delete_outcomes(batch.items, ids, results)

    # -- Platform Events ----------------------------------------------------------------------------------

    async def _publish_stream(self, batch: Batch, writer: EventWriter) -> Results:
        """Publish the batch in one PublishStream request; each record gets its own event's result. Retries after a
        lost answer are the publisher's: it finds events already on the bus by their correlation keys."""
        events = [OutgoingEvent(correlation_key(item.record), item.record.fields) for item in batch.items]
        async with self._gate.acquire(batch.lane, 1):
            started = self._clock()
            try:
                outcomes = await writer.publish_events(batch.sobject, events)
            except PubSubError as exc:
                kind = FailureKind.TRANSIENT if exc.retryable else FailureKind.PERMANENT
                failure = Failure(kind, exc.error_code or "PUBSUB_ERROR", exc.message, (), exc.retry_after_s)
                return [(item, failure) for item in batch.items]
            finally:
                self._observe("events", batch, len(events), started)
        return [(item, _event_outcome(outcome)) for item, outcome in zip(batch.items, outcomes, strict=True)]

    async def _publish(self, batch: Batch, item: WriteItem) -> Outcome:
        """Publish one Platform Event (`POST /sobjects/X__e`). Not idempotent: a retry after an answer lost in
        transit can publish the event twice, so subscribers dedupe by a field of the event (at-least-once)."""
        async with self._gate.acquire(batch.lane, 1):
            started = self._clock()
            try:
                result = await self._writer.create(batch.sobject, item.record.fields)
            except SalesforceError as exc:
                return Failure.from_exception(exc)
            finally:
                self._observe("events", batch, 1, started)
        if result.success:
            return Written(result.id, created=True)
        return Failure.from_error(result.errors[0]) if result.errors else _UNEXPLAINED

    # -- Bulk API 2.0 ---------------------------------------------------------------------------------------

    async def _bulk(self, batch: Batch) -> Results:
        records = [item.payload() for item in batch.items]
        async with self._gate.acquire(batch.lane, BULK_JOB_CALLS):
            started = self._clock()
            try:
                result = await self._writer.bulk_upsert(
                    batch.sobject,
                    batch.external_id_field,
                    records,
                    poll_interval_s=first_poll_s(len(records)),
                    max_poll_interval_s=MAX_POLL_INTERVAL_S,
                )
            except SalesforceError as exc:
                self._observe("bulk", batch, len(records), started)
                failure = Failure.from_exception(exc)
                if failure.kind is FailureKind.PERMANENT:  # a job-level refusal: let Collections find the cause
                    failure = Failure(FailureKind.TRANSIENT, failure.error_code, failure.message, failure.fields)
                return [(item, failure) for item in batch.items]
        self._observe("bulk", batch, len(records), started)
        return _bulk_outcomes(batch, result)

    def _observe(self, kind: str, batch: Batch, size: int, started_s: float) -> None:
        # API calls and limit errors are counted by the Salesforce client, which sees every request.
        self._metrics.batch_size.labels(path=kind).observe(size)
        elapsed_s = self._clock() - started_s
        self._metrics.write_latency.labels(sobject=batch.sobject, path=kind).observe(elapsed_s)


def _event_outcome(outcome: EventOutcome) -> Outcome:
    if outcome.published:
        return Written(outcome.correlation_key, created=True)  # the event's id on the bus: what subscribers see
    return Failure(FailureKind.PERMANENT, "PUBLISH_FAILED", outcome.error or "publish failed")


def _bulk_outcomes(batch: Batch, result: BulkResult) -> Results:
    by_external_id = {item.record.external_id: item for item in batch.items}
    outcomes: dict[int, Outcome] = {}

    def find(record: Mapping[str, Any]) -> WriteItem | None:
        return by_external_id.get(str(record.get(batch.external_id_field, "")))

    for record, sf_id, created in result.successful:
        if (item := find(record)) is not None:
            outcomes[id(item)] = Written(sf_id, created)
    for record, error in result.failed:
        if (item := find(record)) is not None:
            outcomes[id(item)] = Failure.from_bulk(error)
    return [(item, outcomes.get(id(item), _UNEXPLAINED)) for item in batch.items]
