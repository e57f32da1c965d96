"""Our own hostile-input suite, against a real ingest server over a socket and the suite's real broker.

Every hostile request gets its 4xx and a JSON reason, leaves nothing on Kafka (the topics' end offsets), and the
server keeps serving: each test ends with a good request that is accepted and is the only record on the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.ingest.conftest import (
    BATCH,
    STRUCTURED,
    Ingest,
    Schemas,
    TokenFileHandle,
    customer,
    running_ingest,
)

pytestmark = pytest.mark.kafka

GOOD = orjson.dumps(customer("C-1"))


def _nested(depth: int) -> bytes:
    event = customer()
    head, tail = orjson.dumps(event).rsplit(b"}", 1)
    return head + b',"deep":' + b"[" * depth + b"]" * depth + b"}" + tail


def _with(**attributes: Any) -> bytes:
    return orjson.dumps({**customer(), **attributes})


def _data_raw(fragment: bytes) -> bytes:
    """A customer event whose `data` object ends with the raw JSON `fragment` (values orjson could not write)."""
    event = orjson.dumps(customer())
    return event.replace(b'"name":"Acme"', b'"name":"Acme",' + fragment)


HOSTILE_BODIES: dict[str, tuple[bytes, int, str]] = {
    "malformed": (b"{not json", 400, "malformed"),
    "truncated": (GOOD[: len(GOOD) // 2], 400, "malformed"),
    "empty": (b"", 400, "malformed"),
    "invalid utf-8": (GOOD.replace(b'"Acme"', b'"Ac\xff\xfeme"'), 400, "malformed"),
    "lone surrogate": (GOOD.replace(b'"Acme"', b'"Ac\\ud800me"'), 400, "malformed"),
    "NaN": (_data_raw(b'"annual_revenue":NaN'), 400, "malformed"),
    "Infinity": (_data_raw(b'"annual_revenue":-Infinity'), 400, "malformed"),
    "overflowing float": (_data_raw(b'"annual_revenue":1e999'), 400, "malformed"),
    "huge integer": (_data_raw(b'"employees":123456789012345678901234567890'), 400, "malformed"),
    "u64 integer": (_data_raw(b'"employees":18446744073709551615'), 400, "malformed"),
    "4301-digit integer": (_data_raw(b'"employees":' + b"9" * 4301), 400, "malformed"),
    "deep nesting": (_nested(5_000), 400, "malformed"),
    "nesting under the parser limit": (_nested(500), 400, "malformed"),  # not an attribute's type: malformed
    "duplicate attribute": (
        GOOD.replace(b'"source":"erp://test"', b'"source":"erp://test","source":"x"'),
        400,
        "malformed",
    ),
    "duplicate data key": (_data_raw(b'"name":"Other"'), 400, "malformed"),
    "control character in the id": (_with(id="e-1\r\nX-Injected: 1"), 400, "malformed"),
    "control character in the source": (_with(source="erp://test\n"), 400, "malformed"),
    "NUL in the external id": (orjson.dumps(customer("C\u00001")), 400, "schema_violation"),
    # Attributes that name Salesforce things must agree with the type's schema: SOQL or a path gets nowhere.
    "SOQL in the sobject": (_with(sobject="Account' OR Name != '"), 400, "schema_violation"),
    "a path in the external ID field": (_with(extidfield="ERP_Customer_Id__c/../Id"), 400, "schema_violation"),
    "quote in the type": (_with(type="com.acme.crm.customer.upserted'--"), 400, "unknown_type"),
    "not an object": (b'"just a string"', 400, "malformed"),
    "forged authid": (_with(authid="Admin"), 403, "forged_identity"),
    "forged authtype": (_with(authtype="system"), 403, "forged_identity"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_get_their_4xx_and_nothing_reaches_kafka(ingest: Ingest, case: str) -> None:
    body, status, error = HOSTILE_BODIES[case]
    response = await ingest.client.post("/v1/events", content=body, headers=STRUCTURED)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert await ingest.end_offsets() == 0
    await _still_serving(ingest)


@pytest.mark.parametrize(
    "media_type",
    ["text/plain", "application/json", "application/cloudevents+xml", "multipart/form-data; boundary=x", ""],
)
async def test_wrong_media_types_are_415(ingest: Ingest, media_type: str) -> None:
    response = await ingest.client.post("/v1/events", content=GOOD, headers={"content-type": media_type})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert await ingest.end_offsets() == 0
    await _still_serving(ingest)


async def test_a_100000_event_batch_is_413_with_a_short_answer(
    bootstrap: str, schemas: Schemas, token_file: TokenFileHandle
) -> None:
    async with running_ingest(bootstrap, schemas, token_file.path, headers=token_file.bearer("ERP")) as ingest:
        many = b"[" + b",".join([b"{}"] * 100_000) + b"]"  # 300 kB: under the 5 MB default body limit
        response = await ingest.client.post("/v1/events", content=many, headers=BATCH)
        assert response.status_code == 413
        assert response.json()["error"] == "too_many_events"
        assert "100000 events; the limit is 1000" in response.json()["message"]
        invalid = await ingest.client.post("/v1/events", content=orjson.dumps([{}] * 1_000), headers=BATCH)
        assert invalid.status_code == 400
        assert len(invalid.json()["results"]) == 100  # every event is invalid; the answer lists the first 100
        assert "1000 of 1000 events are refused" in invalid.json()["message"]
        assert len(invalid.content) < 50_000
        assert await ingest.end_offsets() == 0
        await _still_serving(ingest)


async def test_oversized_bodies_with_and_without_a_truthful_content_length(ingest: Ingest) -> None:
    big = orjson.dumps(customer(name="n" * 250_000))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 16_384):
            yield big[start : start + 16_384]

    declared = await ingest.client.post("/v1/events", content=big, headers=STRUCTURED)
    streamed = await ingest.client.post("/v1/events", content=chunks(), headers=STRUCTURED)  # chunked: no length
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert declared.json()["error"] == streamed.json()["error"] == "too_large"
    assert await ingest.end_offsets() == 0
    await _still_serving(ingest)


# --- over a raw socket: what a well-behaved HTTP client cannot send --------------------------------------------


@contextlib.asynccontextmanager
async def _socket(ingest: Ingest) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    url = ingest.client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _head(ingest: Ingest, length: int | None) -> bytes:
    lines = [
        "POST /v1/events HTTP/1.1",
        f"host: {ingest.client.base_url.host}",
        "content-type: application/cloudevents+json",
        f"authorization: {ingest.client.headers['authorization']}",
    ]
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _response(reader: asyncio.StreamReader, timeout_s: float = 10.0) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(timeout_s):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return status, orjson.loads(await reader.readexactly(length))


@pytest.fixture
async def impatient(bootstrap: str, schemas: Schemas, token_file: TokenFileHandle) -> AsyncIterator[Ingest]:
    """An ingest that waits 1 s for headers and for a body."""
    async with running_ingest(
        bootstrap, schemas, token_file.path, headers=token_file.bearer("ERP"), header_timeout_s=1, body_timeout_s=1
    ) as handle:
        yield handle


async def test_slow_loris_headers_get_408_and_the_connection_is_closed(impatient: Ingest) -> None:
    async with _socket(impatient) as (reader, writer):
        writer.write(b"POST /v1/events HTTP/1.1\r\nhost: x\r\n")  # and then nothing more
        await writer.drain()
        status, body = await _response(reader)
        assert (status, body["error"]) == (408, "request_timeout")
        assert await reader.read() == b""  # closed by the server
    await _still_serving(impatient)


async def test_slow_loris_body_gets_408(impatient: Ingest) -> None:
    async with _socket(impatient) as (reader, writer):
        writer.write(_head(impatient, len(GOOD)))
        for byte in GOOD[:8]:  # one byte every 0.3 s: the whole body would take minutes
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.3)
        status, body = await _response(reader)
        assert (status, body["error"]) == (408, "request_timeout")
    await _still_serving(impatient)


async def test_a_content_length_larger_than_the_body_waits_for_the_body_then_408(impatient: Ingest) -> None:
    async with _socket(impatient) as (reader, writer):
        writer.write(_head(impatient, len(GOOD) + 1_000) + GOOD)
        await writer.drain()
        status, body = await _response(reader)
        assert (status, body["error"]) == (408, "request_timeout")
    await _still_serving(impatient)


async def test_a_content_length_smaller_than_the_body_reads_only_what_it_declared(ingest: Ingest) -> None:
    async with _socket(ingest) as (reader, writer):
        writer.write(_head(ingest, 20) + GOOD)  # the rest of the bytes are not a request
        await writer.drain()
        status, body = await _response(reader)
        assert (status, body["error"]) == (400, "malformed")
    await _still_serving(ingest)


async def test_a_declared_huge_body_is_413_before_it_is_read(ingest: Ingest) -> None:
    async with _socket(ingest) as (reader, writer):
        writer.write(_head(ingest, 10_000_000_000))
        await writer.drain()
        status, body = await _response(reader)
        assert (status, body["error"]) == (413, "too_large")
    await _still_serving(ingest)


async def _still_serving(ingest: Ingest) -> None:
    before = await ingest.end_offsets()
    response = await ingest.client.post("/v1/events", content=orjson.dumps(customer("C-OK")), headers=STRUCTURED)
    assert response.status_code == 202, response.text
    assert await ingest.end_offsets() == before + 1
