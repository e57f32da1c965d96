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
    fields = fields or {"Name": external_id}
    # Parents as a mapping names them: here every relationship is named like its SObject (`Account`).
    parents = {
        name: f"{name}:{next(iter(value.values()))}"
        for name, value in fields.items()
        if isinstance(value, dict) and len(value) == 1
    }
    record = MappedRecord(sobject, "External_Id__c", external_id, fields, lane, 1, ("e",), parents=parents)
    return WriteItem(f"crm.writes.{lane.value}", partition, offset, record, record.route.encode(), b"{}", (), read_at_s)
