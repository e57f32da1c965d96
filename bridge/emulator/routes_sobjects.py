"""REST resources of one org: versions, resources, limits, describeGlobal, describe and sObject rows.

sObject rows cover create (POST), read/update/delete by Id, and read/upsert/delete by external id with the
documented statuses: 201 created, 200 (API ≥ 46.0) or 204 updated, 300 several matches, 404 nothing matched.

The external id is one path segment, percent-decoded: `%20` is a space, `+` stays a plus, `%2F` is a slash and
so a second segment, which no resource has (404 NOT_FOUND, as Salesforce answers; such values go through
Collections). A last segment ending in `.json` asks for JSON ("append .json or .xml to the URI"), and a value
whose tail looks like a file extension the platform guards, as the documented `example@email.inc`, is 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.duplicates import DuplicateHeader
from bridge.emulator.ids import normalize_id
from bridge.emulator.limits import record_counts
from bridge.emulator.org import Org
from bridge.emulator.prepare import prepare_create, prepare_delete, prepare_update, prepare_upsert
from bridge.emulator.profile import ObjectSpec
from bridge.emulator.responses import (
    JSON,
    TX_KEY,
    call_options_client,
    error,
    json_body,
    not_found,
    parser_error,
    save_errors,
    session_of,
)
from bridge.emulator.results import SaveResult
from bridge.emulator.writes import Caller

BASE = "/services/data/v{version}"
VERSIONS = ("52.0", "55.0", "58.0", "59.0", "60.0", "61.0", "62.0")
_RELEASES = {
    "52.0": "Summer '21",
    "55.0": "Summer '22",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}


def record_json(
    spec: ObjectSpec, record: dict[str, Any], version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """A record as the REST API returns it, with `attributes` first."""
    out: dict[str, Any] = {
        "attributes": {"type": spec.name, "url": f"/services/data/v{version}/sobjects/{spec.name}/{record['Id']}"}
    }
    names = fields if fields else list(spec.fields)
    for name in names:
        fspec = spec.field(name)
        if fspec is not None:
            out[fspec.name] = record.get(fspec.name)
    return out


# "For security reasons, some Top Level Domains (TLD) can conflict with certain file format extensions ...
# using an email address, such as example@email.inc, as the External ID returns a '404 not found' error."
GUARDED_EXTENSIONS = frozenset({"inc"})
JSON_SUFFIX, XML_SUFFIX = ".json", ".xml"


def caller_of(org: Org, request: Request, version: str) -> Caller:
    """The request's user, `Sforce-Call-Options` client and `Sforce-Duplicate-Rule-Header` flags."""
    header = DuplicateHeader.parse(request.headers.get("sforce-duplicate-rule-header"))
    return org.caller(session_of(request).user, call_options_client(request.headers), version, duplicate_header=header)


async def save_one(org: Org, request: Request, ops: list[Any], version: str) -> SaveResult:
    """Run a one-record save in the request's transaction (a Composite allOrNone one) or its own.

    Rows a concurrent transaction holds are waited for, up to 10 s of emulated time.
    """
    outer = request.scope.get(TX_KEY)
    results, tx = await org.save_waiting(ops, all_or_none=True, caller=caller_of(org, request, version), tx=outer)
    if outer is None:
        await org.hold(tx)
    return results[0]


def _last_segment(value: str) -> str | Response:
    """The record key without a `.json` format suffix; an `.xml` one or a guarded extension answered."""
    if value.endswith(JSON_SUFFIX) and len(value) > len(JSON_SUFFIX):
        return value.removesuffix(JSON_SUFFIX)
    if value.endswith(XML_SUFFIX) and len(value) > len(XML_SUFFIX):
        return error(406, "NOT_ACCEPTABLE", "The emulator serves JSON only; XML (a .xml suffix) is not emulated")
    if value.rpartition(".")[2].lower() in GUARDED_EXTENSIONS and "." in value:
        return error(404, "NOT_FOUND", "The requested resource does not exist")
    return value


async def object_body(request: Request) -> dict[str, Any] | Response:
    """The JSON object body, or the JSON_PARSER_ERROR answer."""
    try:
        body = await json_body(request)
    except ValueError as exc:
        return parser_error(str(exc))
    if not isinstance(body, dict):
        return parser_error("Cannot deserialize instance of an sObject from a non-object value")
    return body


class SObjectRoutes:
    """Handlers bound to one org."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """The routes, most specific first."""
        return [
            Route("/services/data", self.versions, methods=["GET"]),
            Route("/services/data/", self.versions, methods=["GET"]),
            Route(BASE, self.resources, methods=["GET"]),
            Route(BASE + "/", self.resources, methods=["GET"]),
            Route(BASE + "/limits", self.limits, methods=["GET"]),
            Route(BASE + "/limits/", self.limits, methods=["GET"]),
            Route(BASE + "/limits/recordCount", self.record_count, methods=["GET"]),
            Route(BASE + "/sobjects", self.describe_global, methods=["GET"]),
            Route(BASE + "/sobjects/", self.describe_global, methods=["GET"]),
            Route(BASE + "/sobjects/{sobject}/describe", self.describe, methods=["GET"]),
            Route(BASE + "/sobjects/{sobject}/describe/", self.describe, methods=["GET"]),
            Route(BASE + "/sobjects/{sobject}", self.basic, methods=["GET", "POST"]),
            Route(BASE + "/sobjects/{sobject}/", self.basic, methods=["GET", "POST"]),
            Route(BASE + "/sobjects/{sobject}/{record_id}", self.row, methods=["GET", "PATCH", "DELETE"]),
            Route(
                BASE + "/sobjects/{sobject}/{field}/{value}", self.by_external_id, methods=["GET", "PATCH", "DELETE"]
            ),
        ]

    async def versions(self, request: Request) -> Response:
        """`GET /services/data`: the API versions (free, no session needed)."""
        return JSON([{"label": _RELEASES[v], "url": f"/services/data/v{v}", "version": v} for v in VERSIONS])

    async def resources(self, request: Request) -> Response:
        """`GET /services/data/vXX.X/`: the resources of a version."""
        v = request.path_params["version"]
        names = ("sobjects", "query", "queryAll", "composite", "limits", "tooling", "jobs", "search")
        return JSON({name: f"/services/data/v{v}/{name}" for name in names})

    async def limits(self, request: Request) -> Response:
        """`GET /limits`: DailyApiRequests and a few other allocations."""
        usage = self.org.api_usage
        return JSON(
            {
                "DailyApiRequests": {"Max": usage.limit, "Remaining": usage.remaining()},
                "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyStreamingApiEvents": {"Max": 1000000, "Remaining": 1000000},
                "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            }
        )

    async def record_count(self, request: Request) -> Response:
        """`GET /limits/recordCount[?sObjects=A,B]`: record counts (platform events have none)."""
        specs = [s for s in self.org.profile.objects.values() if not s.platform_event]
        counts = {spec.name: self.org.count(spec.name) for spec in specs}
        return JSON(record_counts(counts, request.query_params.get("sObjects")))

    async def describe_global(self, request: Request) -> Response:
        """`GET /sobjects`: describeGlobal."""
        return JSON(self.org.describe_global(request.path_params["version"]))

    def _spec(self, request: Request) -> ObjectSpec | None:
        return self.org.sobject(request.path_params["sobject"])

    @staticmethod
    def _unknown(request: Request) -> Response:
        return error(404, "NOT_FOUND", "The requested resource does not exist")

    async def describe(self, request: Request) -> Response:
        """`GET /sobjects/{S}/describe`."""
        spec = self._spec(request)
        if spec is None:
            return self._unknown(request)
        return JSON(self.org.describe(spec.name, request.path_params["version"]))

    async def basic(self, request: Request) -> Response:
        """`GET /sobjects/{S}` (basic information) and `POST /sobjects/{S}` (create, or publish an `X__e`)."""
        spec = self._spec(request)
        if spec is None:
            return self._unknown(request)
        version = request.path_params["version"]
        if request.method == "GET":
            info = self.org.describe_global(version)["sobjects"]
            return JSON({"objectDescribe": next(o for o in info if o["name"] == spec.name), "recentItems": []})
        body = await object_body(request)
        if isinstance(body, Response):
            return body
        if spec.platform_event:
            return self._publish(request, spec, body)
        result = await save_one(self.org, request, [prepare_create(spec, body)], version)
        if not result.success:
            return save_errors(400, result.errors)
        url = f"/services/data/v{version}/sobjects/{spec.name}/{result.id}"
        return JSON({"id": result.id, "success": True, "errors": []}, status_code=201, headers={"Location": url})

    def _publish(self, request: Request, spec: ObjectSpec, body: dict[str, Any]) -> Response:
        published = self.org.publish_event(spec.name, body, session_of(request).user)
        if published["success"]:
            return JSON(published, status_code=201)
        errors = [
            {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]} for e in published["errors"]
        ]
        return JSON(errors, status_code=400)

    async def row(self, request: Request) -> Response:
        """`GET|PATCH|DELETE /sobjects/{S}/{id}`."""
        spec = self._spec(request)
        if spec is None:
            return self._unknown(request)
        record_id = _last_segment(request.path_params["record_id"])
        if isinstance(record_id, Response):
            return record_id
        full = normalize_id(record_id)
        found = self.org.store.get(spec.name, full) if full else None
        if found is None:
            return not_found(record_id)
        if found.get("IsDeleted"):
            return error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return await self._on_record(request, spec, found)

    async def _on_record(self, request: Request, spec: ObjectSpec, found: dict[str, Any]) -> Response:
        version = request.path_params["version"]
        if request.method == "GET":
            fields = request.query_params.get("fields")
            return JSON(record_json(spec, found, version, fields.split(",") if fields else None))
        if request.method == "DELETE":
            op = prepare_delete(self.org.profile.objects, self.org.store, found["Id"])
            result = await save_one(self.org, request, [op], version)
            return Response(status_code=204) if result.success else save_errors(400, result.errors)
        try:
            body = await json_body(request)
        except ValueError as exc:
            return parser_error(str(exc))
        if not isinstance(body, dict):
            return parser_error("Cannot deserialize instance of an sObject from a non-object value")
        body = {k: v for k, v in body.items() if k.lower() != "id"}
        result = await save_one(self.org, request, [prepare_update(spec, body, self.org.store, found["Id"])], version)
        return Response(status_code=204) if result.success else save_errors(400, result.errors)

    def _external_target(self, request: Request) -> tuple[ObjectSpec, str, str] | Response:
        """The object, external id field and value a by-external-id URL names, or the 404 answer."""
        spec = self._spec(request)
        if spec is None:
            return self._unknown(request)
        field_name, value = request.path_params["field"], _last_segment(request.path_params["value"])
        if isinstance(value, Response):
            return value
        fspec = spec.field(field_name)
        if fspec is None or not fspec.external_id:
            return not_found(field_name)
        return spec, fspec.name, value

    async def by_external_id(self, request: Request) -> Response:
        """`GET|PATCH|DELETE /sobjects/{S}/{extField}/{value}`: read, upsert or delete by external id."""
        target = self._external_target(request)
        if isinstance(target, Response):
            return target
        spec, field_name, value = target
        matches = self.org.store.find(spec.name, field_name, value)
        version = request.path_params["version"]
        if len(matches) > 1:
            return JSON([f"/services/data/v{version}/sobjects/{spec.name}/{i}" for i in matches], status_code=300)
        if request.method == "PATCH":
            return await self._upsert(request, spec, field_name, value, matches)
        if not matches:
            return not_found(value)
        found = self.org.store.get(spec.name, matches[0]) or {}
        return await self._on_record(request, spec, found)

    async def _upsert(self, request: Request, spec: ObjectSpec, field: str, value: str, matches: list[str]) -> Response:
        version = request.path_params["version"]
        if not matches and request.query_params.get("updateOnly", "").lower() == "true":
            return not_found(value)
        body = await self._upsert_body(request, field, value)
        if isinstance(body, Response):
            return body
        op = prepare_upsert(spec, field, body, self.org.store, value)
        result = await save_one(self.org, request, [op], version)
        if not result.success:
            return save_errors(400, result.errors)
        if result.created:
            return JSON({"id": result.id, "success": True, "errors": [], "created": True}, status_code=201)
        if float(version) < 46.0:
            return Response(status_code=204)
        return JSON({"id": result.id, "success": True, "errors": [], "created": False})

    @staticmethod
    async def _upsert_body(request: Request, field: str, value: str) -> dict[str, Any] | Response:
        """The upsert body without the external id field (which may repeat the URL's value, nothing else)."""
        try:
            body = await json_body(request) or {}
        except ValueError as exc:
            return parser_error(str(exc))
        if not isinstance(body, dict):
            return parser_error("Cannot deserialize instance of an sObject from a non-object value")
        in_body = next((k for k in body if k.lower() == field.lower()), None)
        if in_body is not None:
            if str(body[in_body]) != value:
                return error(
                    400,
                    "INVALID_FIELD",
                    f"The field {field} was specified both in the URL and in the body with different values",
                    [field],
                )
            body = {k: v for k, v in body.items() if k != in_body}
        return body
