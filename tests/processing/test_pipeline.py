"""The pipeline: one pure call from event and state to a typed decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bridge.processing.dedupe import KeyState
from bridge.processing.mapping import Mappings
from bridge.processing.metadata import SObjectMeta, ValidationRuleMeta
from bridge.processing.pipeline import Pipeline, Rejected, Skipped, Write
from bridge.processing.validation import CompiledRule, NotEvaluablePolicy, RuleNotEvaluable, Validator
from bridge.types import SkipReason
from tests.processing.conftest import customer, deal


def _exotic(record: Mapping[str, Any], prior: Mapping[str, Any] | None, is_new: bool) -> bool:
    raise RuleNotEvaluable("VLOOKUP is not supported")


def _pipeline(objects: dict[str, SObjectMeta], mappings: Mappings, **kwargs: Any) -> Pipeline:
    return Pipeline(mappings, Validator(objects), **kwargs)


def test_write_then_duplicate_then_stale(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    pipeline = _pipeline(objects, mappings)
    states: dict[str, KeyState] = {}
    first = pipeline.process(customer(version=2, event_id="e2"), states)
    assert isinstance(first, Write)
    states[first.record.key] = first.state
    again = pipeline.process(customer(version=2, event_id="e2"), states)
    assert isinstance(again, Skipped)
    assert again.reason is SkipReason.DUPLICATE
    old = pipeline.process(customer(version=1, event_id="e1", name="Old"), states)
    assert isinstance(old, Skipped)
    assert old.reason is SkipReason.STALE
    same = pipeline.process(customer(version=3, event_id="e3"), states)
    assert isinstance(same, Skipped)
    assert same.reason is SkipReason.UNCHANGED


def test_mapping_and_validation_rejections(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    pipeline = _pipeline(objects, mappings)
    bad_id = pipeline.process(customer(customer_id="../etc"), {})
    assert bad_id == Rejected("map", "invalid_external_id", bad_id.detail)  # type: ignore[union-attr]
    bad_stage = pipeline.process(deal(stage="Dreaming"), {})
    assert isinstance(bad_stage, Rejected)
    assert (bad_stage.stage, bad_stage.reason, bad_stage.sobject) == (
        "validate",
        "field_metadata",
        "Opportunity",
    )
    assert orjson.loads(bad_stage.detail)[0]["rule"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_not_evaluable_policy(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    meta = ValidationRuleMeta("Exotic", "Account", True, "VLOOKUP(...)", "no")
    validator = Validator(objects, {"Account": (CompiledRule(meta, frozenset(), _exotic),)})
    passing = Pipeline(mappings, validator).process(customer(), {})
    assert isinstance(passing, Write)
    assert [n.rule for n in passing.not_evaluable] == ["Exotic"]
    strict = Pipeline(mappings, validator, policy=NotEvaluablePolicy.REJECT).process(customer(), {})
    assert isinstance(strict, Rejected)
    assert strict.reason == "not_evaluable"
    assert "VLOOKUP" in strict.detail


def test_rejected_events_are_not_remembered(objects: dict[str, SObjectMeta], mappings: Mappings) -> None:
    # A replay after a fix reuses the event id; it must not be skipped as a duplicate.
    pipeline = _pipeline(objects, mappings)
    first = pipeline.process(deal(stage="Dreaming", event_id="x"), {})
    assert isinstance(first, Rejected)
    assert isinstance(pipeline.process(deal(event_id="x"), {}), Write)
