"""The schema registry: envelope and payload checks, clear reasons, and the extensions it derives."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.errors import ConfigError, MalformedEvent, SchemaViolation, UnknownEventType
from bridge.events import CloudEvent, SchemaRegistry
from bridge.types import Lane

CUSTOMER = "com.acme.crm.customer.upserted"
DEAL = "com.acme.crm.deal.upserted"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load()


def customer(**data: Any) -> CloudEvent:
    payload = {"customer_id": "C-1", "version": 4, "name": "Acme GmbH", **data}
    return CloudEvent(id="e-1", source="erp://acme", type=CUSTOMER, data=payload)


def test_registry_knows_the_domain_types_and_their_topics(registry: SchemaRegistry) -> None:
    assert registry.types == ["com.acme.crm.customer.deleted", CUSTOMER, DEAL]
    assert registry.spec("com.acme.crm.customer.deleted").topic == "domain.erp.customer"  # ordered with its upserts
    assert registry.spec(CUSTOMER).topic == "domain.erp.customer"
    assert registry.spec(CUSTOMER).sobject == "Account"
    assert registry.spec(DEAL).topic == "domain.erp.deal"
    assert registry.spec(DEAL).sobject == "Opportunity"
    assert registry.topics == (
        "domain.erp.customer",
        "domain.erp.customer.realtime",
        "domain.erp.deal",
        "domain.erp.deal.realtime",
    )
    assert registry.realtime_topics == ("domain.erp.customer.realtime", "domain.erp.deal.realtime")


def test_realtime_events_have_topics_of_their_own(registry: SchemaRegistry) -> None:
    customer_spec, deal_spec = registry.spec(CUSTOMER), registry.spec(DEAL)
    assert customer_spec.topic_for(Lane.REALTIME) == "domain.erp.customer.realtime"
    assert customer_spec.topic_for(Lane.BULK) == "domain.erp.customer"
    assert customer_spec.topic_for(None) == "domain.erp.customer.realtime"  # the type's default lane
    assert deal_spec.topic_for(None) == "domain.erp.deal"
    assert deal_spec.topic_for(Lane.REALTIME) == "domain.erp.deal.realtime"
    without = dataclasses.replace(customer_spec, realtime_topic=None)  # a schema that names none: one topic
    assert without.topic_for(Lane.REALTIME) == "domain.erp.customer"


def test_check_fills_in_the_bridge_extensions_from_the_payload(registry: SchemaRegistry) -> None:
    event = registry.check(customer(billing_address={"city": "Zürich", "country": "CH"}))
    assert event.sobject == "Account"
    assert event.extidfield == "ERP_Customer_Id__c"
    assert event.externalid == "C-1"
    assert event.sequence == 4
    assert event.lane is Lane.REALTIME
    assert event.partitionkey == "Account:C-1"


def test_given_extensions_that_contradict_the_payload_are_rejected(registry: SchemaRegistry) -> None:
    with pytest.raises(SchemaViolation, match="'externalid' is 'C-2'"):
        registry.check(customer()._replace(externalid="C-2"))
    kept = registry.check(customer()._replace(lane=Lane.BULK, partitionkey="p"))
    assert (kept.lane, kept.partitionkey) == (Lane.BULK, "p")


def test_unknown_type_names_the_known_types(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownEventType, match=r"com\.acme\.nope.*known types: com\.acme\.crm\.customer"):
        registry.check(CloudEvent(id="1", source="s", type="com.acme.nope", data={}))


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"version": "7"}, "$.version", "must be integer"),
        ({"billing_address": {"city": 5}}, "$.billing_address.city", "must be string or null"),
        ({"segment": "huge"}, "$.segment", "must be one of"),
        ({"customer_id": "C\x00"}, "$.customer_id", "control characters"),
        ({"customer_id": "x" * 256}, "$.customer_id", "256|255"),
        ({"colour": "red"}, "$", r"must not contain \{'colour'\} properties"),
    ],
)
def test_schema_violations_carry_the_json_path(
    registry: SchemaRegistry, data: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SchemaViolation, match=message) as info:
        registry.check(customer(**data))
    assert info.value.path == path


def test_hostile_but_printable_ids_are_accepted_verbatim(registry: SchemaRegistry) -> None:
    hostile = "a/b?c%d#e'f\"g ünï 日本 🚀"
    event = registry.check(customer(customer_id=hostile))
    assert event.externalid == hostile
    assert event.partitionkey == f"Account:{hostile}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "bad\nid"}, "'id' must not contain control characters"),
        ({"id": "x" * 300}, "'id' must be shorter"),
        ({"time": "yesterday"}, "'time' must be date-time"),
        ({"subject": "bell\x07"}, "'subject' must not contain control characters"),
    ],
)
def test_envelope_violations_are_malformed(registry: SchemaRegistry, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        registry.check(customer()._replace(**changes))


def test_a_schema_file_without_bridge_metadata_is_a_config_error(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "schemas"
    (tmp_path / "events").mkdir()
    (tmp_path / "envelope.schema.json").write_bytes((root / "envelope.schema.json").read_bytes())
    (tmp_path / "events" / "x.y.schema.json").write_bytes(orjson.dumps({"type": "object"}))
    with pytest.raises(ConfigError, match="x-bridge"):
        SchemaRegistry.load(tmp_path)
    (tmp_path / "events" / "x.y.schema.json").write_bytes(orjson.dumps({"x-bridge": {"type": "x.z"}}))
    with pytest.raises(ConfigError, match="bad 'x-bridge'"):
        SchemaRegistry.load(tmp_path)
