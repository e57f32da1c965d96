"""The processor's pure core in one call: map → dedupe → validate → route, returning a typed decision.

Dedupe runs before validation on purpose: a redelivered or stale event is dropped cheaply and never earns a
DLQ entry, and validation of an update sees the values last applied (`prior`, for ISCHANGED/PRIORVALUE).

    pipeline = Pipeline(mappings, validator)
    decision = pipeline.process(event, states)   # Write | Skipped | Rejected
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from bridge.processing.dedupe import Apply, DedupeConfig, KeyState, Skip, decide, remember
from bridge.processing.mapping import MappingFailure, Mappings
from bridge.processing.records import InboundEvent, MappedRecord
from bridge.processing.validation import NotEvaluablePolicy, NotEvaluated, Validator, Violation
from bridge.types import Operation, SkipReason


@dataclass(frozen=True, slots=True)
class Write:
    """Write `record`; store `state` for its key once the write is acknowledged."""

    record: MappedRecord
    state: KeyState
    not_evaluable: tuple[NotEvaluated, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    """No write, for `reason`; `state` notes the event id so a redelivery is recognised."""

    key: str
    reason: SkipReason
    detail: str
    state: KeyState


@dataclass(frozen=True, slots=True)
class Rejected:
    """Dead-letter the event: the stage that refused it, a reason code and a detail for a human."""

    stage: str
    reason: str
    detail: str
    sobject: str | None = None
    violations: tuple[Violation, ...] = ()
    not_evaluable: tuple[NotEvaluated, ...] = ()


Decision = Write | Skipped | Rejected


def _violations_detail(violations: tuple[Violation, ...]) -> str:
    items = [{"rule": v.rule, "kind": v.kind, "field": v.field, "message": v.message} for v in violations]
    return orjson.dumps(items).decode()


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The core of the processor, configured once; `process` is a pure function of event and state."""

    mappings: Mappings
    validator: Validator
    policy: NotEvaluablePolicy = NotEvaluablePolicy.PASS_THROUGH
    dedupe: DedupeConfig = field(default_factory=DedupeConfig)

    def map(self, event: InboundEvent) -> MappedRecord | Rejected:
        """Step 1: the event as an SObject record, or why not."""
        mapped = self.mappings.apply(event)
        if isinstance(mapped, MappingFailure):
            return Rejected("map", mapped.reason, mapped.detail)
        return mapped

    def decide(self, record: MappedRecord, state: KeyState | None) -> Decision:
        """Steps 2-3 for a mapped record given its key's state."""
        if record.operation is Operation.IGNORE:
            detail = f"deletes of {record.sobject} are ignored by its mapping"
            return Skipped(record.key, SkipReason.IGNORED, detail, remember(state, record, self.dedupe))
        verdict = decide(state, record, self.dedupe)
        if isinstance(verdict, Skip):
            return Skipped(record.key, verdict.reason, verdict.detail, remember(state, record, self.dedupe))
        return self._validate(verdict, state)

    def _validate(self, verdict: Apply, state: KeyState | None) -> Decision:
        record = verdict.record
        if record.is_delete:  # no values to check: the org's rules apply to what is saved
            return Write(record, verdict.state)
        is_new = state is None or state.content_hash is None
        prior = None if is_new or state is None else state.fields
        result = self.validator.validate(record, prior=prior, is_new=is_new)
        if not result.ok:
            reason = "field_metadata" if result.violations[0].kind == "field" else "validation_rule"
            detail = _violations_detail(result.violations)
            return Rejected("validate", reason, detail, record.sobject, result.violations, result.not_evaluable)
        if result.not_evaluable and self.policy is NotEvaluablePolicy.REJECT:
            detail = "; ".join(f"{n.rule}: {n.detail}" for n in result.not_evaluable)
            return Rejected("validate", "not_evaluable", detail, record.sobject, (), result.not_evaluable)
        return Write(record, verdict.state, result.not_evaluable)

    def process(self, event: InboundEvent, states: Mapping[str, KeyState]) -> Decision:
        """All steps for one event; `states` maps `sobject:external_id` to the key's state."""
        mapped = self.map(event)
        if isinstance(mapped, Rejected):
            return mapped
        return self.decide(mapped, states.get(mapped.key))
