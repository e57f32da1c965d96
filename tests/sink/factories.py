"""Write items for sink tests."""

from typing import Any

from bridge.processing.records import MappedRecord
from bridge.sink.items import WriteItem
from bridge.types import Lane


def item(
    external_id: str,
    *,
    offset: int = 0,
    sobject: str = "Account",
    lane: Lane = Lane.BULK,
    fields: dict[str, Any] | None = None,
    read_at_s: float = 0.0,
    partition: int = 0,
) -> WriteItem:
    record = MappedRecord(sobject, "External_Id__c", external_id, fields or {"Name": external_id}, lane, 1, ("e",))
    return WriteItem(f"crm.writes.{lane.value}", partition, offset, record, None, b"{}", (), read_at_s)
