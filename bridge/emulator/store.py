"""The org's record tables with indexes on unique, external-id and lookup fields, and an undo log for rollback."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator.profile import ObjectSpec

Record = dict[str, Any]


def index_key(value: Any, *, case_sensitive: bool) -> Any:
    """How a value is compared for matching: external ids are case-insensitive unless marked case-sensitive."""
    if isinstance(value, str) and not case_sensitive:
        return value.lower()
    return value


@dataclass
class _Table:
    spec: ObjectSpec
    rows: dict[str, Record] = field(default_factory=dict)
    indexes: dict[str, dict[Any, set[str]]] = field(default_factory=dict)


class RecordStore:
    """Records per sObject, by Id. Deleted records stay (IsDeleted) for `queryAll` but leave the indexes."""

    def __init__(self, objects: Iterable[ObjectSpec]) -> None:
        self._tables = {
            spec.name: _Table(spec, indexes={f.name: {} for f in spec.fields.values() if f.indexed}) for spec in objects
        }

    def names(self) -> list[str]:
        """The sObject names."""
        return list(self._tables)

    def get(self, sobject: str, record_id: str) -> Record | None:
        """The stored record (deleted ones included); callers must not mutate it."""
        return self._tables[sobject].rows.get(record_id)

    def rows(self, sobject: str, *, include_deleted: bool = False) -> Iterator[Record]:
        """Stored records in insertion order."""
        for row in self._tables[sobject].rows.values():
            if include_deleted or not row.get("IsDeleted"):
                yield row

    def count(self, sobject: str) -> int:
        """Live (not deleted) records."""
        return sum(1 for _ in self.rows(sobject))

    def find(self, sobject: str, field_name: str, value: Any) -> list[str]:
        """Ids of live records whose indexed `field_name` matches `value`."""
        table = self._tables[sobject]
        spec = table.spec.fields[field_name]
        ids = table.indexes[field_name].get(index_key(value, case_sensitive=spec.case_sensitive), ())
        return sorted(ids)

    def put(self, sobject: str, record: Record) -> Record | None:
        """Store `record` (replacing the one with its Id); returns the previous version."""
        table = self._tables[sobject]
        record_id = record["Id"]
        before = table.rows.get(record_id)
        if before is not None:
            self._unindex(table, before)
        table.rows[record_id] = record
        self._index(table, record)
        return before

    def restore(self, sobject: str, record_id: str, before: Record | None) -> None:
        """Undo a `put`: put back `before`, or remove the record when it did not exist."""
        table = self._tables[sobject]
        current = table.rows.pop(record_id, None)
        if current is not None:
            self._unindex(table, current)
        if before is not None:
            table.rows[record_id] = before
            self._index(table, before)

    @staticmethod
    def _index(table: _Table, record: Record) -> None:
        if record.get("IsDeleted"):
            return
        for name, index in table.indexes.items():
            value = record.get(name)
            if value is not None and value != "":
                key = index_key(value, case_sensitive=table.spec.fields[name].case_sensitive)
                index.setdefault(key, set()).add(record["Id"])

    @staticmethod
    def _unindex(table: _Table, record: Record) -> None:
        for name, index in table.indexes.items():
            value = record.get(name)
            if value is not None and value != "":
                key = index_key(value, case_sensitive=table.spec.fields[name].case_sensitive)
                ids = index.get(key)
                if ids is not None:
                    ids.discard(record["Id"])
                    if not ids:
                        del index[key]
