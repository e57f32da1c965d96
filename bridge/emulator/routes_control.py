"""The control API under the reserved path `/__emulator__/`: faults, time, API spending and inspection.

Not part of Salesforce; for tests, demos and benchmarks driving an emulator in another process.

    POST /__emulator__/faults        {"kind": "unavailable", "path": "/services/data", "count": 2}
    DELETE /__emulator__/faults
    POST /__emulator__/clock/advance {"seconds": 86400}
    POST /__emulator__/api-usage     {"calls": 5000}       (another integration spending the allocation)
    POST /__emulator__/sessions/expire                      (every session)
    GET  /__emulator__/records/{sobject}[?field=External_Id__c&value=A-1]
    GET  /__emulator__/calls          (the API call log, most recent last)
    GET  /__emulator__/state          (counts, usage, clock, row-lock waits)
    POST /__emulator__/merge          {"sobject": "Account", "master_id": "001...", "merge_ids": ["001..."],
                                       "fields": {...}, "user": "alice@...", "client": null}   (a person's merge)
    POST /__emulator__/undelete       {"ids": ["001..."], "user": ..., "client": ...}   (from the Recycle Bin)
    POST /__emulator__/duplicate-rules {"active": true}     (switch the profile's duplicate rules on or off)

Merge and undelete are what people do in the UI (the REST API has neither): by default they run as the
profile's first human user with changeOrigin `com/salesforce/api/soap/62.0;client=SfdcInternalAPI/`; a
`client` makes them an API integration's SOAP call carrying that client id.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.org import Org
from bridge.emulator.responses import JSON, json_body

PREFIX = "/__emulator__"


class ControlRoutes:
    """Handlers bound to one org."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """The control routes."""
        return [
            Route(PREFIX + "/faults", self.faults, methods=["POST", "DELETE", "GET"]),
            Route(PREFIX + "/clock/advance", self.advance, methods=["POST"]),
            Route(PREFIX + "/api-usage", self.spend, methods=["POST"]),
            Route(PREFIX + "/sessions/expire", self.expire, methods=["POST"]),
            Route(PREFIX + "/records/{sobject}", self.records, methods=["GET"]),
            Route(PREFIX + "/calls", self.calls, methods=["GET"]),
            Route(PREFIX + "/state", self.state, methods=["GET"]),
            Route(PREFIX + "/merge", self.merge, methods=["POST"]),
            Route(PREFIX + "/undelete", self.undelete, methods=["POST"]),
            Route(PREFIX + "/duplicate-rules", self.duplicate_rules, methods=["POST"]),
        ]

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = await json_body(request)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def faults(self, request: Request) -> Response:
        """Add a fault rule, set the lock-error rate or seed (POST), clear (DELETE), list (GET)."""
        faults = self.org.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            body = await self._body(request)
            if "lock_error_rate" in body:
                faults.lock_error_rate = float(body["lock_error_rate"])
            if "seed" in body:
                faults.reseed(int(body["seed"]))
            if "kind" in body:
                try:
                    faults.add(
                        str(body["kind"]),
                        path=str(body.get("path", "")),
                        method=body.get("method"),
                        count=body.get("count", 1),
                        latency_ms=float(body.get("latency_ms", 0)),
                    )
                except ValueError as exc:
                    return JSON({"error": str(exc)}, status_code=400)
        rules = [
            {"kind": r.kind, "path": r.path, "method": r.method, "count": r.count, "hits": r.hits} for r in faults.rules
        ]
        return JSON({"rules": rules, "lock_error_rate": faults.lock_error_rate, "seed": faults.seed})

    async def advance(self, request: Request) -> Response:
        """Move the org's clock forward by `seconds`."""
        body = await self._body(request)
        self.org.clock.advance(float(body.get("seconds", 0)))
        return JSON({"now": self.org.clock.iso()})

    async def spend(self, request: Request) -> Response:
        """Spend `calls` of the daily allocation, as another integration would."""
        body = await self._body(request)
        self.org.api_usage.spend(int(body.get("calls", 0)))
        return JSON({"api_usage": self.org.api_usage.header()})

    async def expire(self, request: Request) -> Response:
        """End every session."""
        return JSON({"expired": self.org.sessions.expire()})

    async def records(self, request: Request) -> Response:
        """Stored records of an object, or the one with `field` = `value`."""
        sobject = request.path_params["sobject"]
        field, value = request.query_params.get("field"), request.query_params.get("value")
        if field and value is not None:
            found = self.org.by_external_id(sobject, field, value)
            return JSON([found] if found else [])
        return JSON(list(self.org.rows(sobject)))

    async def calls(self, request: Request) -> Response:
        """The API call log, oldest first."""
        return JSON(
            [
                {
                    "at_s": c.at_s,
                    "method": c.method,
                    "path": c.path,
                    "status": c.status,
                    "user": c.user,
                    "client": c.client,
                    "api_calls": c.api_calls,
                }
                for c in self.org.call_log
            ]
        )

    async def state(self, request: Request) -> Response:
        """Counts, usage, clock and the rules the formula engine could not evaluate."""
        org = self.org
        return JSON(
            {
                "org_id": org.profile.org_id,
                "now": org.clock.iso(),
                "api_usage": {"used": org.api_usage.used(), "max": org.api_usage.limit},
                "records": {name: org.store.count(name) for name in org.store.names()},
                "unevaluable_rules": org.rules.unevaluable,
                "row_locks": dataclasses.asdict(org.locks.stats),
            }
        )

    def _user(self, body: dict[str, Any]) -> tuple[str | None, str | None] | Response:
        user, client = body.get("user"), body.get("client")
        if user is not None and self.org.profile.user(str(user)) is None:
            return JSON({"error": f"no such user {user!r}"}, status_code=400)
        return (str(user) if user else None), (str(client) if client else None)

    async def merge(self, request: Request) -> Response:
        """Merge records as a person does (a SOAP MergeResult: `id`, `success`, `mergedRecordIds`, ...)."""
        body = await self._body(request)
        who = self._user(body)
        if isinstance(who, Response):
            return who
        if not isinstance(body.get("merge_ids"), list):
            return JSON({"error": "merge_ids must be a list of record ids"}, status_code=400)
        result = await self.org.recycle_bin.merge(
            str(body.get("sobject", "")),
            str(body.get("master_id", "")),
            [str(i) for i in body["merge_ids"]],
            body.get("fields") if isinstance(body.get("fields"), dict) else None,
            user=who[0],
            client=who[1],
        )
        return JSON(result, status_code=200 if result["success"] else 400)

    async def undelete(self, request: Request) -> Response:
        """Restore records from the Recycle Bin; per-record results."""
        body = await self._body(request)
        who = self._user(body)
        if isinstance(who, Response):
            return who
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids:
            return JSON({"error": "ids must be a non-empty list of record ids"}, status_code=400)
        return JSON(await self.org.recycle_bin.undelete([str(i) for i in ids], user=who[0], client=who[1]))

    async def duplicate_rules(self, request: Request) -> Response:
        """Switch the duplicate rules on (`{"active": true}`) or off."""
        body = await self._body(request)
        self.org.set_duplicate_rules(active=bool(body.get("active", True)))
        return JSON({"duplicate_rules": [r.name for r in self.org.profile.duplicate_rules if r.active]})
