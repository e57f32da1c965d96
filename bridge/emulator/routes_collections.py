"""sObject Collections (`/composite/sobjects`): create, update, upsert, retrieve and delete up to 200 records.

A well-formed request answers 200 with per-record results in input order; with `allOrNone` true one failure
rolls back every record (the others report ALL_OR_NONE_OPERATION_ROLLED_BACK). The whole request is one API
call. Mixed object types are saved in chunks per contiguous type run, at most 10. Platform Event records
(`X__e`) in a create publish their events ("Publish events by inserting events in the same way that you
insert sObjects"), each answering OPERATION_ENQUEUED with the event's UUID; with `allOrNone` true they
publish only when every other record of the request saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.org import Org
from bridge.emulator.prepare import Prepared, prepare_create, prepare_delete, prepare_update, prepare_upsert
from bridge.emulator.profile import ObjectSpec
from bridge.emulator.responses import JSON, TX_KEY, error, json_body, parser_error, session_of
from bridge.emulator.results import SaveError, SaveResult, rolled_back
from bridge.emulator.routes_sobjects import BASE, caller_of, record_json
from bridge.errors import BridgeError

MAX_RECORDS = 200
MAX_CHUNKS = 10


class BadRequest(BridgeError):
    """The request is malformed as a whole: answered 400 with `code` and `message`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_ROLLED_BACK = rolled_back(SaveResult(None), keep_id=False)


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def _too_many() -> BadRequest:
    return BadRequest("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")


async def _records_body(request: Request) -> tuple[list[dict[str, Any]], bool]:
    try:
        body = await json_body(request)
    except ValueError as exc:
        raise BadRequest("JSON_PARSER_ERROR", str(exc)) from exc
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise BadRequest("JSON_PARSER_ERROR", "Expected an object with a records array")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise _too_many()
    if any(not isinstance(r, dict) for r in records):
        raise BadRequest("JSON_PARSER_ERROR", "Each record must be a JSON object")
    return records, bool(body.get("allOrNone", False))


def _type_of(org: Org, record: dict[str, Any]) -> ObjectSpec | SaveError:
    attributes = record.get("attributes")
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not name:
        return SaveError("INVALID_TYPE", "Must send a concrete entity type.")
    spec = org.sobject(str(name))
    return spec if spec is not None else SaveError("INVALID_TYPE", f"sObject type '{name}' is not supported.")


def _typed_ops(
    org: Org, records: list[dict[str, Any]], prepare: Callable[[ObjectSpec, dict[str, Any]], Prepared]
) -> list[Prepared]:
    ops: list[Prepared] = []
    chunks, last = 0, None
    for record in records:
        spec = _type_of(org, record)
        if isinstance(spec, SaveError):
            ops.append([spec])
            continue
        if spec.name != last:
            chunks, last = chunks + 1, spec.name
        ops.append(prepare(spec, record))
    if chunks > MAX_CHUNKS:
        raise BadRequest(
            "INVALID_BATCH_REQUEST",
            "Cannot have more than 10 chunks in a single operation. Please rearrange the data to reduce chunking.",
        )
    return ops


class CollectionRoutes:
    """Handlers bound to one org."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """`/composite/sobjects` and `/composite/sobjects/{S}[/{extField}]`."""
        path = BASE + "/composite/sobjects"
        return [
            Route(path, self.collection, methods=["POST", "PATCH", "DELETE"]),
            Route(path + "/", self.collection, methods=["POST", "PATCH", "DELETE"]),
            Route(path + "/{sobject}", self.retrieve, methods=["GET", "POST"]),
            Route(path + "/{sobject}/{field}", self.upsert, methods=["PATCH"]),
        ]

    async def _results(self, request: Request, ops: list[Prepared], all_or_none: bool) -> list[dict[str, Any]]:
        caller = caller_of(self.org, request, request.path_params["version"])
        outer = request.scope.get(TX_KEY)
        # Inside a Composite allOrNone request the outer flag overrides this one.
        all_or_none = all_or_none or outer is not None
        results, tx = await self.org.save_waiting(ops, all_or_none=all_or_none, caller=caller, tx=outer)
        if outer is None:
            await self.org.hold(tx)
        return [r.as_item() for r in results]

    async def _save(self, request: Request, ops: list[Prepared], all_or_none: bool) -> Response:
        return JSON(await self._results(request, ops, all_or_none))

    async def _create(self, request: Request, records: list[dict[str, Any]], all_or_none: bool) -> Response:
        """Create records; Platform Event records among them publish instead of being stored."""
        ops = _typed_ops(self.org, records, prepare_create)
        events = {i: spec.name for i, r in enumerate(records) if (spec := self._event_type(r)) is not None}
        if not events:
            return await self._save(request, ops, all_or_none)
        all_or_none = all_or_none or request.scope.get(TX_KEY) is not None
        invalid = {i: self.org.event_errors(name, _fields(records[i])) for i, name in events.items()}
        if all_or_none and any(invalid.values()):
            items = [SaveResult(None, invalid[i]) if invalid.get(i) else _ROLLED_BACK for i in range(len(records))]
            return JSON([item.as_item() for item in items])
        saved = iter(await self._results(request, [op for i, op in enumerate(ops) if i not in events], all_or_none))
        out = [None if i in events else next(saved) for i in range(len(records))]
        failed = any(item is not None and not item["success"] for item in out)
        user = session_of(request).user
        for i, name in events.items():
            publish = not (all_or_none and failed)
            out[i] = self.org.publish_event(name, _fields(records[i]), user) if publish else _ROLLED_BACK.as_item()
        return JSON(out)

    def _event_type(self, record: dict[str, Any]) -> ObjectSpec | None:
        spec = _type_of(self.org, record)
        return spec if isinstance(spec, ObjectSpec) and spec.platform_event else None

    async def collection(self, request: Request) -> Response:
        """`POST|PATCH|DELETE /composite/sobjects`: create, update or delete records of any types."""
        try:
            if request.method == "DELETE":
                return await self._delete(request)
            records, all_or_none = await _records_body(request)
            store = self.org.store
            if request.method == "POST":
                return await self._create(request, records, all_or_none)
            ops = _typed_ops(self.org, records, lambda spec, r: prepare_update(spec, r, store))
        except BadRequest as bad:
            return error(400, bad.code, bad.message)
        return await self._save(request, ops, all_or_none)

    async def _delete(self, request: Request) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids:
            raise BadRequest("MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_RECORDS:
            raise _too_many()
        all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
        ops = [prepare_delete(self.org.profile.objects, self.org.store, i) for i in ids]
        return await self._save(request, ops, all_or_none)

    async def upsert(self, request: Request) -> Response:
        """`PATCH /composite/sobjects/{S}/{extField}`: upsert records of one type by external id."""
        spec = self.org.sobject(request.path_params["sobject"])
        if spec is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        field = request.path_params["field"]
        fspec = spec.field(field)
        if fspec is None or not fspec.external_id:
            return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}")
        try:
            records, all_or_none = await _records_body(request)
        except BadRequest as bad:
            return error(400, bad.code, bad.message)
        ops: list[Prepared] = []
        for record in records:
            typed = _type_of(self.org, record)
            if isinstance(typed, SaveError) or typed.name != spec.name:
                ops.append(
                    [
                        typed
                        if isinstance(typed, SaveError)
                        else SaveError("INVALID_TYPE", f"Record type {typed.name} does not match the URL's {spec.name}")
                    ]
                )
            else:
                ops.append(prepare_upsert(spec, fspec.name, record, self.org.store))
        return await self._save(request, ops, all_or_none)

    async def retrieve(self, request: Request) -> Response:
        """`GET|POST /composite/sobjects/{S}`: records by id (null for ids that match nothing)."""
        spec = self.org.sobject(request.path_params["sobject"])
        if spec is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "POST":
            try:
                body = await json_body(request) or {}
            except ValueError as exc:
                return parser_error(str(exc))
            ids, fields = list(body.get("ids", [])), list(body.get("fields", []))
        else:
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        if len(ids) > 2000:
            return error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 records")
        version = request.path_params["version"]
        out: list[dict[str, Any] | None] = []
        for record_id in ids:
            found = self.org.get(spec.name, record_id)
            live = found is not None and not found.get("IsDeleted")
            out.append(record_json(spec, found, version, fields or None) if live and found else None)
        return JSON(out)
