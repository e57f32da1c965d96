"""Response helpers in Salesforce's shapes: JSON bodies via orjson and the REST error array."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.emulator.results import SaveError
from bridge.emulator.sessions import Session

SESSION_KEY = "emulator.session"
TX_KEY = "emulator.tx"


class JSON(Response):
    """`application/json;charset=UTF-8` rendered with orjson."""

    media_type = "application/json;charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, message: str, fields: Iterable[str] | None = None) -> JSON:
    """`[{"message", "errorCode"[, "fields"]}]` with `status`."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = list(fields)
    return JSON([item], status_code=status)


def save_errors(status: int, errors: Iterable[SaveError]) -> JSON:
    """A failed single-record save as the REST error array."""
    return JSON([e.as_rest() for e in errors], status_code=status)


def not_found(what: str | None = None) -> JSON:
    """404 NOT_FOUND: a missing resource, or a record id / external id nothing matches."""
    if what is None:
        return error(404, "NOT_FOUND", "The requested resource does not exist")
    return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {what}")


async def json_body(request: Request) -> Any:
    """The parsed JSON body; raises `ValueError` (answered as JSON_PARSER_ERROR) when it is not JSON."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"Unexpected character: {exc.msg} at [line:{exc.lineno}, column:{exc.colno}]") from exc


def parser_error(message: str) -> JSON:
    """400 JSON_PARSER_ERROR."""
    return error(400, "JSON_PARSER_ERROR", message)


def session_of(request: Request) -> Session:
    """The session the gate authenticated for this request."""
    session: Session = request.scope[SESSION_KEY]
    return session


def call_options_client(headers: Mapping[str, str]) -> str | None:
    """The `client=` value of `Sforce-Call-Options` (`client=X, defaultNamespace=ns`)."""
    raw = headers.get("sforce-call-options", "")
    for part in raw.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "client" and value.strip():
            return value.strip()
    return None
