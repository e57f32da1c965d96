"""A request body, read within a size and a time limit, and parsed as strict JSON.

    raw = await read_body(request, limit_bytes=5_000_000, timeout_s=10.0)   # BodyTooLarge, BodyTimeout
    document = strict_json(raw)                                             # MalformedEvent with the reason

Strict means: what orjson refuses (invalid UTF-8, lone surrogates, NaN and Infinity, numbers that overflow a
double, nesting deeper than 1024), and also what it would accept silently but another parser could read
differently: a key twice in one object (which of the two did a proxy or the source system's logs see?), and an
integer outside the signed 64-bit range (orjson turns it into a float and loses digits of an ID or an amount).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from starlette.requests import Request

from bridge.errors import MalformedEvent

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class BodyTooLarge(Exception):
    """The body (declared or streamed) is over the limit."""


class BodyTimeout(Exception):
    """The body did not arrive within the time limit."""


async def read_body(request: Request, *, limit_bytes: int, timeout_s: float) -> bytes:
    """The whole body, refusing a declared or a streamed size over `limit_bytes`, and a body slower than `timeout_s`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit_bytes:  # a missing or lying Content-Length must not let a huge body through
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout from None
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedEvent(f"not valid JSON: the key {_repeated(pairs)[:100]!r} appears twice in one object")
    return obj


def _repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _bounded_int(text: str) -> int:
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise MalformedEvent(f"not valid JSON: the integer {text[:40]} is outside the signed 64-bit range")
    return value


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_int=_bounded_int)


def strict_json(raw: bytes) -> Any:
    """Parse `raw` as strict JSON (see the module's docstring); `MalformedEvent` names what is wrong."""
    try:
        orjson.loads(raw)  # the fast, strict pass: bytes, surrogates, literals, depth
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"not valid JSON: {exc}") from None
    try:
        # Valid UTF-8 and valid JSON by now; this pass sees what orjson merges or rounds silently.
        return _STRICT.decode(raw.decode())
    except RecursionError:
        raise MalformedEvent("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # int() beyond Python's digit limit
        raise MalformedEvent(f"not valid JSON: {exc}") from None
