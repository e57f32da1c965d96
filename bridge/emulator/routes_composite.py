"""Composite (`/composite`): up to 25 subrequests run in order in one API call, sharing one user context.

Later subrequests refer to earlier results with `@{referenceId.field}`. With `allOrNone` true the
subrequests share one transaction: the first failure rolls everything back and every other subrequest
answers 400 PROCESSING_HALTED. The top-level status is 200 either way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Message

from bridge.emulator.org import Org
from bridge.emulator.responses import JSON, SESSION_KEY, TX_KEY, error, json_body
from bridge.emulator.routes_sobjects import BASE, caller_of
from bridge.emulator.transaction import Transaction
from bridge.errors import BridgeError

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")
# Headers of the outer request every subrequest inherits (a subrequest's own httpHeaders come after them).
_INHERITED = (b"sforce-call-options", b"sforce-duplicate-rule-header")


class UnresolvedReference(BridgeError):
    """A `@{ref.path}` that names no earlier successful result."""


def _lookup(value: Any, path: str) -> Any:
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = part
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise UnresolvedReference(path)
    return value


def substitute(text: str, results: dict[str, tuple[int, Any]]) -> str:
    """Replace every `@{ref.path}` in `text` with the value from an earlier successful subrequest."""

    def replace(match: re.Match[str]) -> str:
        ref, path = match.group(1), match.group(2)
        status, body = results.get(ref, (0, None))
        if not 200 <= status < 300:
            raise UnresolvedReference(f"{ref}{path}")
        return str(_lookup(body, path))

    return REFERENCE.sub(replace, text)


def _is_query(url: str) -> bool:
    path = urlsplit(url).path.rstrip("/")
    return re.search(r"/(query|queryAll)(/[^/]+)?$", path) is not None


def halted(reference_id: str, message: str = HALTED) -> dict[str, Any]:
    body = [{"errorCode": "PROCESSING_HALTED", "message": message}]
    return {"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}


def _failed(status: int, body: Any) -> bool:
    if status >= 400:
        return True
    return isinstance(body, list) and any(isinstance(i, dict) and i.get("success") is False for i in body)


class CompositeRoutes:
    """`POST /composite`, dispatching subrequests to the API routes in-process (not counted again)."""

    def __init__(self, org: Org, api: Router) -> None:
        self.org = org
        self.api = api

    def routes(self) -> list[Route]:
        """The composite route."""
        return [
            Route(BASE + "/composite", self.composite, methods=["POST", "GET"]),
            Route(BASE + "/composite/", self.composite, methods=["POST", "GET"]),
            Route(BASE + "/composite/batch", self.batch, methods=["POST"]),
        ]

    async def composite(self, request: Request) -> Response:
        """`POST /composite` (and `GET`, the list of composite resources)."""
        version = request.path_params["version"]
        if request.method == "GET":
            names = ("batch", "tree", "sobjects", "graph")
            return JSON({n: f"/services/data/v{version}/composite/{n}" for n in names})
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, "JSON_PARSER_ERROR", str(exc))
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            return error(400, "INVALID_BATCH_REQUEST", "compositeRequest is required")
        if len(subrequests) > MAX_SUBREQUESTS:
            return error(
                400, "INVALID_BATCH_REQUEST", f"Composite request can have at most {MAX_SUBREQUESTS} subrequests"
            )
        queries = sum(1 for sub in subrequests if isinstance(sub, dict) and _is_query(str(sub.get("url", ""))))
        if queries > MAX_QUERIES:
            return error(
                400, "INVALID_BATCH_REQUEST", f"Composite request can have at most {MAX_QUERIES} query subrequests"
            )
        all_or_none = bool(body.get("allOrNone", False))
        tx = Transaction(self.org.store) if all_or_none else None
        try:
            responses = await self.run_all(request, subrequests, tx)
        except BaseException:
            if tx is not None:  # a crash or a cancelled request must not leave half a transaction or its locks
                tx.rollback()
                self.org.release(tx)
            raise
        if tx is not None:
            await self.finish(request, tx, responses)
        return JSON({"compositeResponse": responses})

    async def run_all(self, request: Request, subrequests: list[Any], tx: Transaction | None) -> list[dict[str, Any]]:
        """Run subrequests in order; with `tx` (all or none) the first failure halts the rest."""
        results: dict[str, tuple[int, Any]] = {}
        responses: list[dict[str, Any]] = []
        failed = False
        for sub in subrequests:
            reference_id = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if failed:
                responses.append(halted(reference_id))
                continue
            try:
                url = substitute(str(sub.get("url", "")), results)
                raw = orjson.dumps(sub["body"]).decode() if sub.get("body") is not None else ""
                payload = substitute(raw, results).encode()
            except UnresolvedReference as missing:
                responses.append(halted(reference_id, f"Invalid reference specified. No value for {missing} found."))
                failed = tx is not None
                continue
            headers = sub.get("httpHeaders") or {}
            status, out_headers, out = await self._dispatch(
                request, str(sub.get("method", "GET")), url, payload=payload, headers=headers, tx=tx
            )
            results[reference_id] = (status, out)
            responses.append(
                {"body": out, "httpHeaders": out_headers, "httpStatusCode": status, "referenceId": reference_id}
            )
            failed = tx is not None and _failed(status, out)
        return responses

    async def batch(self, request: Request) -> Response:
        """Composite Batch: independent subrequests, each committed alone and each counted as an API call."""
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, "JSON_PARSER_ERROR", str(exc))
        subrequests = body.get("batchRequests") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests or len(subrequests) > MAX_SUBREQUESTS:
            return error(400, "INVALID_BATCH_REQUEST", f"batchRequests must hold 1 to {MAX_SUBREQUESTS} subrequests")
        halt_on_error = bool(body.get("haltOnError", False))
        results: list[dict[str, Any]] = []
        for index, sub in enumerate(subrequests):
            if halt_on_error and any(r["statusCode"] >= 400 for r in results):
                results.append(
                    {
                        "statusCode": 412,
                        "result": [
                            {"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}
                        ],
                    }
                )
                continue
            # The request itself paid for the first subrequest; every further one costs a call of its own.
            if index > 0 and not self.org.api_usage.try_spend(1):
                results.append(
                    {
                        "statusCode": 403,
                        "result": [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
                    }
                )
                continue
            results.append(await self._batch_one(request, sub))
        return JSON({"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results})

    async def _batch_one(self, request: Request, sub: Any) -> dict[str, Any]:
        if not isinstance(sub, dict):
            return {"statusCode": 400, "result": [{"errorCode": "JSON_PARSER_ERROR", "message": "not an object"}]}
        url = str(sub.get("url", "")).lstrip("/")
        url = url if url.startswith("services/data/") else f"services/data/{url}"
        rich = sub.get("richInput")
        payload = orjson.dumps(rich) if rich is not None else b""
        status, _, out = await self._dispatch(
            request, str(sub.get("method", "GET")), "/" + url, payload=payload, headers={}, tx=None
        )
        return {"statusCode": status, "result": out}

    async def finish(self, request: Request, tx: Transaction, responses: list[dict[str, Any]]) -> bool:
        """Commit `tx` when every subrequest succeeded (True); else roll back and halt all but the failure."""
        failed_at = next((i for i, r in enumerate(responses) if _failed(r["httpStatusCode"], r["body"])), None)
        if failed_at is None:
            self.org.commit(tx, caller_of(self.org, request, request.path_params["version"]))
            await self.org.hold(tx)
            return True
        tx.rollback()
        self.org.release(tx)
        for index, response in enumerate(responses):
            if index != failed_at and response["body"] != halted("")["body"]:
                responses[index] = halted(response["referenceId"])
        return False

    async def _dispatch(
        self,
        request: Request,
        method: str,
        url: str,
        *,
        payload: bytes,
        headers: dict[str, Any],
        tx: Transaction | None,
    ) -> tuple[int, dict[str, str], Any]:
        """Run one subrequest through the API routes; its status, `Location` header and parsed body."""
        scope = sub_scope(request, method, url, headers=headers, tx=tx)
        exchange = _Exchange(payload)
        await self.api(scope, exchange.receive, exchange.send)
        location = {k.decode().title(): v.decode() for k, v in exchange.headers if k.lower() == b"location"}
        body = orjson.loads(exchange.body) if exchange.body.strip().startswith((b"{", b"[")) else None
        return exchange.status, location, body


class _Exchange:
    """The ASGI channel of one in-process subrequest: the body in, the response captured."""

    def __init__(self, payload: bytes) -> None:
        self._payload: bytes | None = payload
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def receive(self) -> Message:
        if self._payload is None:
            return {"type": "http.disconnect"}
        payload, self._payload = self._payload, None
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def sub_scope(
    request: Request, method: str, url: str, *, headers: dict[str, Any], tx: Transaction | None
) -> dict[str, Any]:
    """The ASGI scope of a subrequest: the outer session, host and client options, plus its own headers."""
    parts = urlsplit(url)
    outer = request.scope
    own = [(str(k).lower().encode(), str(v).encode()) for k, v in headers.items()]
    named = {k for k, _ in own}
    sub_headers = [(b"content-type", b"application/json"), *[(k, v) for k, v in outer["headers"] if k == b"host"]]
    sub_headers.extend(own)
    sub_headers.extend((k, v) for k, v in outer["headers"] if k.lower() in _INHERITED and k.lower() not in named)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": outer.get("scheme", "http"),
        "server": outer.get("server"),
        "client": outer.get("client"),
        "path": unquote(parts.path),
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": sub_headers,
        SESSION_KEY: outer[SESSION_KEY],
        TX_KEY: tx,
    }
