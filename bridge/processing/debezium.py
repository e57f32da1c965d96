"""Debezium change events (the JSON converter's envelope, with or without its schema) as `InboundEvent`s.

A Debezium topic (`<prefix>.<schema>.<table>`) carries one record per row change: `op` is `c` (insert), `u`
(update), `r` (snapshot read) or `d` (delete); `after` holds the row after the change, `before` the row before it
(for a delete, the only row); `source` says where in the database log it happened. A delete is followed by a
Kafka tombstone (the same key, a null value) for log compaction: it carries nothing and is skipped.

The event's `sequence` is the source position, so the dedupe's version rules apply unchanged: PostgreSQL's
`source.lsn`; MySQL's binlog `source.file` and `source.pos` (and `row`); SQL Server's `source.change_lsn`
(`00000025:00000d98:0002`); else `ts_us`/`ts_ms` of the source. Its `id` is the topic and that position, so a
change Debezium sends again (after a connector restart) is recognised as a duplicate. The row's values are
decoded by the schema when the record embeds it: `io.debezium.time.Date` (days since the epoch) → ISO date,
`MicroTimestamp`/`Timestamp`/`NanoTimestamp` → ISO date-time (UTC), `org.apache.kafka.connect.data.Decimal`
(base64 two's complement, with its `scale`) → a number.

    event = decode_debezium("pg.public.customers", key, value)   # InboundEvent | Tombstone | Rejected
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from bridge.processing.pipeline import Rejected
from bridge.processing.records import InboundEvent

OPERATIONS = frozenset({"c", "u", "r", "d"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The null-valued record Debezium writes after a delete, for compaction: nothing to do."""

    topic: str


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _decimal(value: Any, parameters: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    raw = base64.b64decode(value, validate=True)
    scale = int(parameters.get("scale", 0))
    number = Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)
    return int(number) if scale == 0 else float(number)


_LOGICAL: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "io.debezium.time.Date": lambda v, _: (date(1970, 1, 1) + timedelta(days=int(v))).isoformat(),
    "org.apache.kafka.connect.data.Date": lambda v, _: (date(1970, 1, 1) + timedelta(days=int(v))).isoformat(),
    "io.debezium.time.Timestamp": lambda v, _: _iso(_EPOCH + timedelta(milliseconds=int(v))),
    "org.apache.kafka.connect.data.Timestamp": lambda v, _: _iso(_EPOCH + timedelta(milliseconds=int(v))),
    "io.debezium.time.MicroTimestamp": lambda v, _: _iso(_EPOCH + timedelta(microseconds=int(v))),
    "io.debezium.time.NanoTimestamp": lambda v, _: _iso(_EPOCH + timedelta(microseconds=int(v) // 1_000)),
    "org.apache.kafka.connect.data.Decimal": _decimal,
}


def _row_types(schema: Mapping[str, Any] | None, name: str) -> dict[str, Mapping[str, Any]]:
    """The column schemas of the envelope's `before`/`after` struct, by column name."""
    if not schema:
        return {}
    for part in schema.get("fields") or ():
        if part.get("field") == name:
            return {f["field"]: f for f in part.get("fields") or () if "field" in f}
    return {}


def decode_row(row: Mapping[str, Any], types: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A row with its logical types decoded (columns without a known logical type as they are)."""
    decoded = dict(row)
    for column, value in row.items():
        column_schema = types.get(column) or {}
        convert = _LOGICAL.get(str(column_schema.get("name")))
        if convert is not None and value is not None:
            decoded[column] = convert(value, column_schema.get("parameters") or {})
    return decoded


def _binlog(source: Mapping[str, Any]) -> int | None:
    file, pos = source.get("file"), source.get("pos")
    if not isinstance(file, str) or not isinstance(pos, int):
        return None
    number = int(file.rpartition(".")[2]) if file.rpartition(".")[2].isdigit() else 0
    return (number << 40) | (pos << 8) | min(int(source.get("row") or 0), 255)


def _sqlserver(source: Mapping[str, Any]) -> int | None:
    lsn = source.get("change_lsn") or source.get("commit_lsn")
    if not isinstance(lsn, str) or lsn.count(":") != 2:
        return None
    return int(lsn.replace(":", ""), 16)


def sequence_of(source: Mapping[str, Any], payload: Mapping[str, Any]) -> int | None:
    """The change's position in the source's log, per connector (see the module docstring)."""
    if isinstance(source.get("lsn"), int):
        return int(source["lsn"])
    for position in (_binlog(source), _sqlserver(source)):
        if position is not None:
            return position
    for name in ("ts_us", "ts_ms"):
        for holder in (source, payload):
            if isinstance(holder.get(name), int):
                return int(holder[name])
    return None


def _reject(reason: str, detail: str) -> Rejected:
    return Rejected("decode", reason, detail)


def _envelope(value: bytes) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]] | Rejected:
    """The schema (when embedded) and the payload of a record of the JSON converter."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _reject("malformed", f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return _reject("malformed", "a Debezium record is a JSON object")
    schema = doc.get("schema") if "payload" in doc else None
    payload = doc.get("payload") if "payload" in doc else doc
    if not isinstance(payload, dict) or payload.get("op") not in OPERATIONS:
        return _reject("not_debezium", "no Debezium envelope (`op` of c, u, r or d)")
    return (schema if isinstance(schema, dict) else None), payload


def decode_debezium(topic: str, key: bytes | None, value: bytes | None) -> InboundEvent | Tombstone | Rejected:
    """One Debezium record; every way it can be bad is a `Rejected` with a reason for the DLQ."""
    if value is None:
        return Tombstone(topic)
    envelope = _envelope(value)
    if isinstance(envelope, Rejected):
        return envelope
    schema, payload = envelope
    op = str(payload["op"])
    side = "before" if op == "d" else "after"
    row, source = payload.get(side), payload.get("source") or {}
    if not isinstance(row, dict) or not isinstance(source, dict):
        return _reject("not_debezium", f"a {op!r} change without its {side!r} row")
    try:
        data = decode_row(row, _row_types(schema, side))
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:
        return _reject("malformed", f"a value does not match its Debezium type: {exc}")
    sequence = sequence_of(source, payload)
    position = sequence if sequence is not None else orjson.dumps(source, option=orjson.OPT_SORT_KEYS).decode()
    return InboundEvent(
        id=f"{topic}@{position}:{key.decode(errors='replace') if key else ''}"[:500],
        type=debezium_type(topic),
        source=f"debezium://{source.get('connector', 'unknown')}/{source.get('name', topic)}",
        data=data,
        subject=op,
        sequence=sequence,
    )


def debezium_type(topic: str) -> str:
    """The event type the processor gives the changes of a Debezium topic (what its mapping is found by)."""
    return f"debezium:{topic}"
