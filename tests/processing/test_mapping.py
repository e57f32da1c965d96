"""Mapping: paths, constants, transforms, parents, versions, and every failure as a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.processing.mapping import MappingFailure, Mappings, load_mappings, parse_mappings
from bridge.processing.records import InboundEvent, MappedRecord
from bridge.processing.transforms import to_version
from bridge.types import Lane
from tests.processing.conftest import customer, deal


def test_customer_maps_to_account_with_transforms(mappings: Mappings) -> None:
    event = customer(name="  Acme  ", website=" WWW.Acme.COM ", billing_address={"postal_code": " sw1a 1aa"})
    record = mappings.apply(event)
    assert isinstance(record, MappedRecord)
    assert record.sobject == "Account"
    assert record.key == "Account:C-1"
    assert record.fields["Name"] == "Acme"
    assert record.fields["Website"] == "www.acme.com"
    assert record.fields["BillingPostalCode"] == "SW1A 1AA"
    assert record.fields["ERP_Customer_Id__c"] == "C-1"
    assert "Phone" not in record.fields  # absent stays absent: an update must not blank it
    assert record.version == 1
    assert record.lane is Lane.REALTIME
    assert record.event_ids == ("e-1",)


def test_deal_references_its_parent_by_external_id(mappings: Mappings) -> None:
    record = mappings.apply(deal(amount="1200.50"))
    assert isinstance(record, MappedRecord)
    assert record.fields["Account"] == {"ERP_Customer_Id__c": "C-1"}
    assert record.fields["Amount"] == 1200.5
    assert record.lane is Lane.BULK


def test_lane_extension_overrides_the_default(mappings: Mappings) -> None:
    event = deal()
    event = InboundEvent(event.id, event.type, event.source, event.data, lane="realtime")
    record = mappings.apply(event)
    assert isinstance(record, MappedRecord)
    assert record.lane is Lane.REALTIME


def test_null_is_kept_to_clear_a_field(mappings: Mappings) -> None:
    record = mappings.apply(customer(phone=None))
    assert isinstance(record, MappedRecord)
    assert record.fields["Phone"] is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (InboundEvent("x", "com.unknown", "s", {}), "unknown_type"),
        (customer(customer_id=""), "missing_external_id"),
        (customer(customer_id="a/b"), "invalid_external_id"),
        (customer(customer_id="a?b=1"), "invalid_external_id"),
        (customer(customer_id="50%"), "invalid_external_id"),
        (customer(customer_id="o'neil\""), "invalid_external_id"),
        (customer(customer_id="ünï"), "invalid_external_id"),
        (customer(customer_id="x" * 300), "invalid_external_id"),
        (customer(employees="many"), "transform_failed"),
        (customer(annual_revenue="NaN"), "transform_failed"),
        (customer(version="yesterday"), "transform_failed"),
    ],
)
def test_bad_events_are_mapping_failures(mappings: Mappings, event: InboundEvent, reason: str) -> None:
    result = mappings.apply(event)
    assert isinstance(result, MappingFailure)
    assert result.reason == reason
    assert result.detail


def test_required_source_missing_is_a_failure(mappings: Mappings) -> None:
    event = customer()
    data = {k: v for k, v in event.data.items() if k != "name"}
    result = mappings.apply(InboundEvent(event.id, event.type, event.source, data))
    assert result == MappingFailure("transform_failed", "data.name is missing")


def test_versions_order_integers_and_timestamps() -> None:
    assert to_version(7) == 7
    assert to_version("12") == 12
    assert to_version("2026-01-01T00:00:01Z") > to_version("2026-01-01T00:00:00+00:00")  # type: ignore[operator]
    assert to_version(None) is None


def test_date_transform_and_constant() -> None:
    mappings = parse_mappings(
        [
            {
                "event_type": "t",
                "sobject": "Account",
                "external_id_field": "X__c",
                "external_id_from": "id",
                "version_from": "sequence",
                "fields": {
                    "Founded__c": {"from": "data.founded", "transforms": ["date:%d.%m.%Y"]},
                    "Source__c": {"const": "ERP"},
                },
            }
        ]
    )
    record = mappings.apply(InboundEvent("E-9", "t", "s", {"founded": "31.01.1999"}, sequence=4))
    assert isinstance(record, MappedRecord)
    assert record.fields == {"Founded__c": "1999-01-31", "Source__c": "ERP", "X__c": "E-9"}
    assert record.version == 4
    failed = mappings.apply(InboundEvent("E-9", "t", "s", {"founded": "1999-01-31"}))
    assert isinstance(failed, MappingFailure)
    assert failed.reason == "transform_failed"


@pytest.mark.parametrize(
    "bad",
    [
        {
            "event_type": "t",
            "sobject": "A",
            "external_id_field": "X",
            "external_id_from": "id",
            "fields": {"F": {}},
        },
        {
            "event_type": "t",
            "sobject": "A",
            "external_id_field": "X",
            "external_id_from": "id",
            "fields": {"F": {"from": "data.f", "transforms": ["rot13"]}},
        },
        {"event_type": "t"},
    ],
)
def test_invalid_mapping_files_fail_at_load(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_mappings([bad])


def test_duplicate_types_and_empty_dirs_fail(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no mappings"):
        load_mappings(tmp_path)
    doc = {
        "event_type": "t",
        "sobject": "A",
        "external_id_field": "X",
        "external_id_from": "id",
        "fields": {},
    }
    with pytest.raises(ConfigError, match="two mappings"):
        parse_mappings([doc, [doc]])


def test_shipped_mappings_cover_the_shipped_event_schemas(mappings: Mappings) -> None:
    schemas = Path(__file__).resolve().parents[2] / "schemas" / "events"
    types = {p.name.removesuffix(".schema.json") for p in schemas.glob("*.schema.json")}
    assert types <= set(mappings.by_type)
    assert mappings.sobjects == {"Account", "Opportunity"}
