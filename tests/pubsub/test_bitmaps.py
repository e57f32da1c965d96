"""Field bitmaps decode as the documentation's worked example says, and encode back."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.pubsub.bitmaps import decode_bitmap, encode_bitmap

ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [{"name": n, "type": ["null", "string"]} for n in ("Street", "City", "State", "PostalCode", "Country")],
}


def schema_with(n_fields: int) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [{"name": f"F{i}", "type": ["null", "string"]} for i in range(n_fields)]
    fields[4] = {"name": "BillingAddress", "type": ["null", ADDRESS]}
    fields[7] = {"name": "ShippingAddress", "type": ["null", {**ADDRESS, "name": "Address2"}]}
    return {"type": "record", "name": "AccountChangeEvent", "fields": fields}


def test_documented_example_decodes_to_the_documented_indexes() -> None:
    schema = schema_with(32)
    names = decode_bitmap(schema, ["0x650004E0", "4-0x10", "7-0x06"])
    top = [n for n in names if "." not in n]
    assert top == ["F5", "F6", "ShippingAddress", "F10", "F24", "F26", "F29", "F30"]
    assert [n for n in names if "." in n] == [
        "BillingAddress.Country",
        "ShippingAddress.City",
        "ShippingAddress.State",
    ]


def test_hex_is_case_insensitive_and_out_of_range_bits_are_ignored() -> None:
    schema = schema_with(8)
    assert decode_bitmap(schema, ["0x0a"]) == decode_bitmap(schema, ["0x0A"]) == ["F1", "F3"]
    assert decode_bitmap(schema, ["0xFF00"]) == []
    assert decode_bitmap(schema, ["9-0x01", "4-0xFF00", "junk"]) == []


def test_encoding_is_uppercase_and_byte_padded() -> None:
    schema = schema_with(12)
    assert encode_bitmap(schema, ["F1", "F3"]) == ["0x0A"]
    assert encode_bitmap(schema, ["F9", "BillingAddress.City"]) == ["0x0200", "4-0x02"]
    assert encode_bitmap(schema, ["NoSuchField"]) == ["0x00"]


@given(st.sets(st.integers(min_value=0, max_value=31)), st.sets(st.sampled_from(["City", "State", "Country"])))
def test_encode_then_decode_round_trips(indexes: set[int], nested: set[str]) -> None:
    schema = schema_with(32)
    names = [schema["fields"][i]["name"] for i in sorted(indexes)] + [f"BillingAddress.{n}" for n in sorted(nested)]
    decoded = decode_bitmap(schema, encode_bitmap(schema, names))
    assert sorted(decoded) == sorted(set(names))
