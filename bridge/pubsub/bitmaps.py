"""Field bitmaps of CDC events (`changedFields`, `nulledFields`, `diffFields`) as Pub/Sub encodes them.

Element 0 (`0x…`) is a bitmap over the top-level fields of the event's Avro schema (bit i, LSB = 0, set means
field i). Further elements `"<parentIndex>-0x<hex>"` are bitmaps over the fields of the compound field at
`parentIndex`, whose names come out as `Parent.Child`. Hex is read case-insensitively; out-of-range bits
are ignored.

    >>> decode_bitmap(schema, ["0x650004E0", "4-0x10"])
    ['LastModifiedDate', ..., 'BillingAddress.City']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _indexes(hex_value: str) -> list[int]:
    value = int(hex_value[2:] or "0", 16)
    return [i for i in range(value.bit_length()) if (value >> i) & 1]


def _hex(mask: int) -> str:
    width = 2 * max(1, (mask.bit_length() + 7) // 8)
    return f"0x{mask:0{width}X}"


def _record_of(avro_type: Any) -> Mapping[str, Any] | None:
    """The record inside a union such as ["null", {record}], or the record itself."""
    if isinstance(avro_type, list):
        records = [t for t in avro_type if isinstance(t, Mapping) and t.get("type") == "record"]
        return records[0] if records else None
    if isinstance(avro_type, Mapping) and avro_type.get("type") == "record":
        return avro_type
    return None


def _nested_names(fields: Sequence[Mapping[str, Any]], entry: str) -> list[str]:
    position, _, mask = entry.partition("-")
    if not position.isdigit() or not mask.lower().startswith("0x") or int(position) >= len(fields):
        return []
    parent = fields[int(position)]
    record = _record_of(parent["type"])
    if record is None:
        return []
    nested = record["fields"]
    return [f"{parent['name']}.{nested[i]['name']}" for i in _indexes(mask) if i < len(nested)]


def decode_bitmap(schema: Mapping[str, Any], entries: Iterable[str]) -> list[str]:
    """Field names named by a bitmap list, in schema order; a parsed schema resolves named types."""
    fields: Sequence[Mapping[str, Any]] = schema["fields"]
    names: list[str] = []
    for entry in entries:
        if entry.lower().startswith("0x"):
            names.extend(fields[i]["name"] for i in _indexes(entry) if i < len(fields))
        else:
            names.extend(_nested_names(fields, entry))
    return list(dict.fromkeys(names))


def encode_bitmap(schema: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The inverse of `decode_bitmap`: uppercase, whole-byte-padded hex, as the documented examples."""
    fields: Sequence[Mapping[str, Any]] = schema["fields"]
    position = {f["name"].lower(): i for i, f in enumerate(fields)}
    top = 0
    nested: dict[int, int] = {}
    for name in names:
        parent, _, child = name.partition(".")
        index = position.get(parent.lower())
        if index is None:
            continue
        if not child:
            top |= 1 << index
            continue
        record = _record_of(fields[index]["type"])
        children = [f["name"].lower() for f in record["fields"]] if record else []
        if child.lower() in children:
            nested[index] = nested.get(index, 0) | 1 << children.index(child.lower())
    return [_hex(top)] + [f"{i}-{_hex(mask)}" for i, mask in sorted(nested.items())]
