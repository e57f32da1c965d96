"""Change data capture: a committed transaction's changes as change events on the Pub/Sub feed.

One event per change, except that identical changes (same object, type, fields and values) to several records
in one transaction share one event with all their `recordIds`, as Salesforce merges them. Events of one
transaction share its `transactionKey`, in the UUID form Salesforce uses ("00065380-d1a9-a64a-9341-14f6f12f674c"),
and number `sequenceNumber` from 1. `commitNumber` is the commit's system change number: increasing, and larger
than JavaScript's safe integers, as real SCNs can be.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridge.emulator.clock import parse_datetime_ms
from bridge.emulator.profile import ObjectSpec
from bridge.emulator.pubsub_feed import PubSubFeed
from bridge.emulator.transaction import Change

_SKIP = frozenset({"Id", "IsDeleted"})
_TRANSACTION_KEYS = uuid.UUID("6f1c3c1e-5a55-4d2e-9a0b-2c8a8e5a0c11")  # names this emulator's transaction keys
_FIRST_COMMIT_NUMBER = 2**53 + 4_096  # past JavaScript's safe integer range, as documented for real SCNs


def transaction_key_of(key: str) -> str:
    """The UUID-form `transactionKey` of one emulated transaction (stable for the same transaction)."""
    return str(uuid.uuid5(_TRANSACTION_KEYS, key))


def _avro_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return parse_datetime_ms(value) if isinstance(value, str) else int(value)
    if kind in {"double", "currency", "percent"}:
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "boolean":
        return bool(value)
    return str(value)


class ChangePublisher:
    """Registers every change-tracked object with the feed and publishes committed transactions."""

    def __init__(self, feed: PubSubFeed, objects: Mapping[str, ObjectSpec], clock: Callable[[], float]) -> None:
        self._feed = feed
        self._objects = objects
        self._clock = clock
        self._commit_number = _FIRST_COMMIT_NUMBER
        for spec in objects.values():
            custom = [(f.name, f.type) for f in spec.fields.values() if not f.system]
            if spec.platform_event:
                feed.register_platform_event(spec.name, custom)
            elif spec.change_events:
                feed.register_entity(spec.name, [(f.name, f.type) for f in spec.fields.values() if f.name not in _SKIP])

    def publish(self, changes: Sequence[Change], *, transaction_key: str, user_id: str, origin: str) -> list[int]:
        """Append the transaction's events; returns their replay ids."""
        if not changes:
            return []
        self._commit_number += 7  # SCNs are increasing, not contiguous
        commit_ms = int(self._clock() * 1000)
        replay_ids = []
        for sequence, (first, record_ids) in enumerate(self._merged(changes), start=1):
            spec = self._objects[first.sobject]
            values = {k: _avro_value(spec.fields[k].type, v) for k, v in first.values.items() if k in spec.fields}
            nulled = [k for k in first.changed_fields if first.values.get(k) is None]
            header = {
                "entityName": first.sobject,
                "recordIds": record_ids,
                "changeType": first.change_type,
                "changeOrigin": origin,
                "transactionKey": transaction_key_of(transaction_key),
                "sequenceNumber": sequence,
                "commitTimestamp": commit_ms,
                "commitNumber": self._commit_number,
                "commitUser": user_id,
                "changedFields": list(first.changed_fields),
                "nulledFields": nulled,
                "diffFields": [],
            }
            replay_ids.append(self._feed.append_change(first.sobject, header, values))
        return replay_ids

    def publish_event(self, spec: ObjectSpec, values: Mapping[str, Any], *, event_uuid: str, user_id: str) -> int:
        """Retain one Platform Event published through the API; returns its replay id."""
        payload = {k: _avro_value(spec.fields[k].type, v) for k, v in values.items() if k in spec.fields}
        payload.update(CreatedDate=int(self._clock() * 1000), CreatedById=user_id)
        return self._feed.append_platform_event(spec.name, event_uuid, payload)

    @staticmethod
    def _merged(changes: Sequence[Change]) -> list[tuple[Change, list[str]]]:
        groups: dict[Any, tuple[Change, list[str]]] = {}
        for position, change in enumerate(changes):
            if change.change_type == "CREATE":
                key: Any = position
            else:
                key = (change.sobject, change.change_type, change.changed_fields, tuple(change.values.items()))
            if key in groups:
                groups[key][1].append(change.record_id)
            else:
                groups[key] = (change, [change.record_id])
        return list(groups.values())
