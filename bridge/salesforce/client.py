"""The async Salesforce REST client: one pooled httpx client, auth flow, error mapping, limit reporting.

Every request carries `Sforce-Call-Options: client=<id>` (so change events name us as their origin), and
`Sforce-Duplicate-Rule-Header: allowSave=true` when `duplicate_rule_allow_save` is set; every response's
`Sforce-Limit-Info` is parsed and reported, and every HTTP call is counted by kind and outcome. Non-2xx
answers become exceptions from `bridge.salesforce.errors`; per-record outcomes are return values.

    async with SalesforceClient(settings, auth_from_settings(settings), on_limit_info=governor.observe) as sf:
        result = await sf.upsert("Account", "Ext_Id__c", "A-42?", {"Name": "Acme"})
        results = await sf.upsert_collection("Account", "Ext_Id__c", [{"Ext_Id__c": "A/42", ...}], True)

An external id is one URL path segment on the single-record resources; values no path can carry (a `/`,
see `bridge.salesforce.paths`) raise `ExternalIdNotInPath` before any request: Collections take them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from bridge.config import SalesforceSettings
from bridge.metrics import Metrics
from bridge.salesforce import bulk
from bridge.salesforce.auth import SalesforceAuth, Session
from bridge.salesforce.composite import MAX_TREE_RECORDS, Graph, GraphResult, TreeResult, graph_body, tree_size
from bridge.salesforce.errors import RequestLimitExceeded, SalesforceError, TransportError
from bridge.salesforce.limits import LimitInfo
from bridge.salesforce.paths import api_name, external_id_segment, record_id
from bridge.salesforce.responses import error_from_response, json_body
from bridge.salesforce.results import SaveResult, SubResponse

MAX_COLLECTION_RECORDS = 200
MAX_COMPOSITE_SUBREQUESTS = 25
# Failures before any byte of the request left this process: nothing can have been applied.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


class SalesforceClient:
    """REST, Composite, Collections, query, describe, limits and Bulk API 2.0 ingest against one org."""

    def __init__(
        self,
        settings: SalesforceSettings,
        auth: SalesforceAuth,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_limit_info: Callable[[LimitInfo], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.last_limit_info: LimitInfo | None = None
        self._transport = transport
        self._on_limit_info = on_limit_info
        self._metrics = metrics
        self._http: httpx.AsyncClient | None = None
        self._session_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self.settings.login_url!r}, api_version={self.settings.api_version!r})"

    async def __aenter__(self) -> Self:
        limits = httpx.Limits(
            max_connections=self.settings.max_connections, max_keepalive_connections=self.settings.max_connections
        )
        self._http = httpx.AsyncClient(
            transport=self._transport,
            limits=limits,
            timeout=httpx.Timeout(self.settings.timeout_s, connect=min(self.settings.timeout_s, 10.0)),
            verify=self.settings.verify_tls,
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def base_path(self) -> str:
        """`/services/data/vXX.X`, the prefix of every REST path (and of Composite subrequest URLs)."""
        return f"/services/data/v{self.settings.api_version}"

    # -- records ---------------------------------------------------------------------------------------------

    async def upsert(self, sobject: str, external_id_field: str, value: str, fields: Mapping[str, Any]) -> SaveResult:
        """Create or update the record whose `external_id_field` equals `value`.

        Raises `ExternalIdNotInPath` (before any request) for a value a URL path cannot carry.
        """
        path = self._external_path(sobject, external_id_field, value)
        response = await self.request("upsert", "PATCH", path, json=dict(fields))
        if response.status_code == 204:  # API < 46.0 answers an update without a body
            return SaveResult(None, success=True, created=False)
        return SaveResult.from_json(json_body(response), created=_created(response))

    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], all_or_none: bool
    ) -> list[SaveResult]:
        """Upsert up to 200 records in one call; results in input order. Each record holds its external ID."""
        if len(records) > MAX_COLLECTION_RECORDS:
            raise ValueError(f"{len(records)} records: sObject Collections take at most {MAX_COLLECTION_RECORDS}")
        if not records:
            return []
        body = {"allOrNone": all_or_none, "records": [_typed(sobject, record) for record in records]}
        path = f"{self.base_path}/composite/sobjects/{api_name(sobject)}/{api_name(external_id_field)}"
        response = await self.request("collections", "PATCH", path, json=body)
        return [SaveResult.from_json(item) for item in json_body(response)]

    async def delete_collection(self, ids: Sequence[str], all_or_none: bool) -> list[SaveResult]:
        """Delete up to 200 records (of any types) by Id in one call, to the Recycle Bin; results in id order.

        Collections delete takes Ids only (`DELETE /composite/sobjects?ids=…&allOrNone=…`), never external IDs.
        """
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise ValueError(f"{len(ids)} ids: sObject Collections take at most {MAX_COLLECTION_RECORDS}")
        if not ids:
            return []
        params = {"ids": ",".join(ids), "allOrNone": "true" if all_or_none else "false"}
        response = await self.request("collections", "DELETE", f"{self.base_path}/composite/sobjects", params=params)
        return [SaveResult.from_json(item) for item in json_body(response)]

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> SaveResult:
        response = await self.request("create", "POST", self._sobject_path(sobject), json=dict(fields))
        return SaveResult.from_json(json_body(response), created=True)

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        await self.request("update", "PATCH", self._record_path(sobject, record_id), json=dict(fields))

    async def delete(self, sobject: str, record_id: str) -> None:
        await self.request("delete", "DELETE", self._record_path(sobject, record_id))

    async def get(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        params = {"fields": ",".join(api_name(f) for f in fields)} if fields else None
        response = await self.request("get", "GET", self._record_path(sobject, record_id), params=params)
        return dict(json_body(response))

    async def get_by_external_id(self, sobject: str, external_id_field: str, value: str) -> dict[str, Any]:
        """The record whose `external_id_field` is `value` (`NotFound` when none; `ExternalIdNotInPath`)."""
        response = await self.request("get", "GET", self._external_path(sobject, external_id_field, value))
        return dict(json_body(response))

    async def delete_by_external_id(self, sobject: str, external_id_field: str, value: str) -> None:
        """Delete the record whose `external_id_field` is `value` (`NotFound` when none; `ExternalIdNotInPath`)."""
        await self.request("delete", "DELETE", self._external_path(sobject, external_id_field, value))

    async def composite(self, subrequests: Sequence[Mapping[str, Any]], all_or_none: bool) -> list[SubResponse]:
        """`POST /composite` (≤25 subrequests, one API call); URLs start with `client.base_path`."""
        if len(subrequests) > MAX_COMPOSITE_SUBREQUESTS:
            raise ValueError(f"{len(subrequests)} subrequests: Composite takes at most {MAX_COMPOSITE_SUBREQUESTS}")
        body = {"allOrNone": all_or_none, "compositeRequest": [dict(s) for s in subrequests]}
        response = await self.request("composite", "POST", f"{self.base_path}/composite", json=body)
        return [SubResponse.from_json(item) for item in json_body(response).get("compositeResponse", [])]

    async def composite_graph(self, graphs: Sequence[Graph]) -> list[GraphResult]:
        """`POST /composite/graph`: each graph all or nothing, up to 75 graphs and 500 nodes, one API call."""
        response = await self.request(
            "composite_graph", "POST", f"{self.base_path}/composite/graph", json=graph_body(graphs)
        )
        return [GraphResult.from_json(g) for g in json_body(response).get("graphs", [])]

    async def sobject_tree(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> TreeResult:
        """`POST /composite/tree/{S}`: new records with their children, all or nothing (see `tree_record`).

        A refused tree (HTTP 400 with `hasErrors`) is a result naming the failing records, not an exception.
        """
        if not 1 <= tree_size(records) <= MAX_TREE_RECORDS:
            raise ValueError(f"an sObject Tree request takes 1 to {MAX_TREE_RECORDS} records, children included")
        path = f"{self.base_path}/composite/tree/{api_name(sobject)}"
        response = await self.request("sobject_tree", "POST", path, json={"records": list(records)}, accept=(400,))
        body = json_body(response) if response.status_code == 201 or _is_tree(response) else None
        if body is None:
            raise self._error(response)
        return TreeResult.from_json(body)

    # -- query and metadata ----------------------------------------------------------------------------------

    def query(self, soql: str, *, batch_size: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every record the SOQL query matches, page after page (`nextRecordsUrl`).

        `batch_size` (200..2000, `Sforce-Query-Options`) asks for smaller pages; Salesforce may ignore it.
        """
        return self._paged("query", f"{self.base_path}/query", soql, batch_size)

    def query_all(self, soql: str, *, batch_size: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Like `query`, through `queryAll`: deleted and archived records too."""
        return self._paged("query", f"{self.base_path}/queryAll", soql, batch_size)

    async def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a Tooling API query (they are few: metadata rows)."""
        return [record async for record in self._paged("tooling_query", f"{self.base_path}/tooling/query", soql)]

    async def describe(self, sobject: str) -> dict[str, Any]:
        response = await self.request("describe", "GET", f"{self._sobject_path(sobject)}/describe")
        return dict(json_body(response))

    async def describe_global(self) -> dict[str, Any]:
        response = await self.request("describe", "GET", f"{self.base_path}/sobjects")
        return dict(json_body(response))

    async def limits(self) -> dict[str, Any]:
        """`GET /limits`: `{"DailyApiRequests": {"Max": 15000, "Remaining": 14998}, ...}`."""
        response = await self.request("limits", "GET", f"{self.base_path}/limits")
        return dict(json_body(response))

    async def bulk_upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        poll_interval_s: float = 1.0,
        max_poll_interval_s: float = 30.0,
        max_wait_s: float = 3600.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> bulk.BulkResult:
        """Upsert through a Bulk API 2.0 ingest job; see `bridge.salesforce.bulk`."""
        job = bulk.BulkJob(
            sobject=api_name(sobject),
            external_id_field=api_name(external_id_field),
            poll=bulk.PollPolicy(poll_interval_s, max_poll_interval_s, max_wait_s),
        )
        return await bulk.bulk_upsert(self, job, records, sleep=sleep)

    # -- transport -------------------------------------------------------------------------------------------

    async def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send one authenticated request to the instance; raise the mapped `SalesforceError` unless 2xx.

        Statuses in `accept` are returned too, for resources whose refusals carry results (sObject Tree).
        """
        session = await self.session()
        request = self._client().build_request(
            method,
            session.instance_url + path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            extensions={"bridge_kind": kind},
        )
        response = await self._send(request, kind, with_auth=True)
        if response.status_code >= 300 and response.status_code not in accept:
            raise self._error(response)
        return response

    async def _paged(
        self, kind: str, path: str, soql: str, batch_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        page = json_body(await self.request(kind, "GET", path, params={"q": soql}, headers=headers))
        while True:
            for record in page.get("records", []):
                yield record
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = json_body(await self.request(kind, "GET", str(next_url), headers=headers))

    async def session(self, *, refresh: bool = False) -> Session:
        """The OAuth session (for other APIs of the org, e.g. Pub/Sub); `refresh` when that API refused it.

        Concurrent refreshes of the same session fetch one new token, not one each.
        """
        stale = self.auth.session if refresh else None
        async with self._session_lock:
            if self.auth.session is None or (stale is not None and self.auth.session is stale):
                response = await self._send(self.auth.token_request(), "auth", with_auth=False)
                self.auth.accept_token_response(response)
            assert self.auth.session is not None  # noqa: S101 - accept_token_response sets it or raises
            return self.auth.session

    async def _send(self, request: httpx.Request, kind: str, *, with_auth: bool) -> httpx.Response:
        try:
            if with_auth:
                return await self._client().send(request, auth=self.auth)
            return await self._client().send(request)
        except httpx.TransportError as exc:
            if self._metrics is not None:
                self._metrics.api_calls.labels(kind=kind, outcome="transport_error").inc()
            maybe_applied = not isinstance(exc, _NOT_SENT)
            detail = f"{request.method} {request.url.path}: {type(exc).__name__} {exc}".strip()
            raise TransportError(detail, maybe_applied=maybe_applied) from exc

    def _error(self, response: httpx.Response) -> SalesforceError:
        error = error_from_response(response)
        if isinstance(error, RequestLimitExceeded) and self._metrics is not None:
            self._metrics.api_limit_errors.inc()
        return error

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("use SalesforceClient as an async context manager: `async with SalesforceClient(...)`")
        return self._http

    async def _on_request(self, request: httpx.Request) -> None:
        request.headers["Sforce-Call-Options"] = f"client={self.settings.call_options_client}"
        if self.settings.duplicate_rule_allow_save:
            request.headers["Sforce-Duplicate-Rule-Header"] = "allowSave=true"

    async def _on_response(self, response: httpx.Response) -> None:
        if self._metrics is not None:
            kind = str(response.request.extensions.get("bridge_kind", "other"))
            outcome = "ok" if response.status_code < 300 else f"http_{response.status_code}"
            self._metrics.api_calls.labels(kind=kind, outcome=outcome).inc()
        info = LimitInfo.parse(response.headers.get("Sforce-Limit-Info"))
        if info is None:
            return
        self.last_limit_info = info
        if self._metrics is not None:
            self._metrics.api_daily_limit.set(info.limit)
            self._metrics.api_budget_used.set(info.used)
        if self._on_limit_info is not None:
            self._on_limit_info(info)

    def _sobject_path(self, sobject: str) -> str:
        return f"{self.base_path}/sobjects/{api_name(sobject)}"

    def _record_path(self, sobject: str, record: str) -> str:
        return f"{self._sobject_path(sobject)}/{record_id(record)}"

    def _external_path(self, sobject: str, external_id_field: str, value: str) -> str:
        return f"{self._sobject_path(sobject)}/{api_name(external_id_field)}/{external_id_segment(value)}"


def _is_tree(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "hasErrors" in body


def _created(response: httpx.Response) -> bool | None:
    body = json_body(response)
    if isinstance(body, dict) and "created" in body:
        return None  # the body says it
    return response.status_code == 201


def _typed(sobject: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"attributes": {"type": sobject}, **{k: v for k, v in record.items() if k != "attributes"}}
