"""Composite Graph (`POST /composite/graph`, API 50.0+): graphs of up to 500 nodes, each graph all or nothing.

A node is a Composite subrequest on a record (`POST /sobjects/S`, `GET|PATCH|DELETE /sobjects/S/{id}`,
`GET|PATCH|DELETE|POST /sobjects/S/{field}/{value}`) and refers to earlier nodes with `@{referenceId.field}`.
Each graph runs in its own transaction: when a node fails, that node keeps its error and every other node of
the graph answers 400 PROCESSING_HALTED, and `isSuccessful` is false. The documented limits hold: at most 75
graphs and 500 nodes in one payload, 500 nodes in a graph, a depth of 15, 15 different nodes (API version,
HTTP method, object); past 14 failed graphs the remaining graphs are halted. The request is one API call.

    {"graphs": [{"graphId": "1", "compositeRequest": [{"method": "POST", "url": "...", "referenceId": "a"}]}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.org import Org
from bridge.emulator.responses import JSON, error, json_body
from bridge.emulator.routes_composite import REFERENCE, CompositeRoutes, halted
from bridge.emulator.routes_sobjects import BASE
from bridge.emulator.transaction import Transaction
from bridge.errors import BridgeError

MAX_GRAPHS = 75
MAX_NODES = 500
MAX_DEPTH = 15
MAX_DIFFERENT_NODES = 15
MAX_FAILED_GRAPHS = 14
# "Must be unique within each composite graph operation; must begin with an alphanumeric character; must be
# less than 40 characters; cannot contain a period (.)"
_GRAPH_ID = re.compile(r"[A-Za-z0-9][^.]{0,38}")
_NODE_URL = re.compile(r"/services/data/v(\d+\.\d+)/sobjects/([^/?]+)(/[^/?]+){0,2}/?")
_NODE_METHODS = {1: {"POST"}, 2: {"GET", "PATCH", "DELETE"}, 3: {"GET", "PATCH", "DELETE", "POST"}}


class InvalidGraph(BridgeError):
    """A graph (or the whole payload) breaks a documented rule."""

    def __init__(self, message: str, reference_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reference_id = reference_id


def node_kind(node: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes nodes "different": API version, HTTP method and object."""
    found = _NODE_URL.fullmatch(str(node.get("url", "")))
    version, sobject = (found.group(1), found.group(2).lower()) if found else ("", "")
    return version, str(node.get("method", "")).upper(), sobject


def _check_node(node: Any) -> str:
    if not isinstance(node, dict):
        raise InvalidGraph("Each node of a graph must be a JSON object")
    reference_id = str(node.get("referenceId", ""))
    url = str(node.get("url", "")).split("?", 1)[0]
    found = _NODE_URL.fullmatch(url)
    segments = url.rstrip("/").count("/") - 4 if found else 0
    if not reference_id:
        raise InvalidGraph("Each node needs a referenceId")
    if found is None or str(node.get("method", "")).upper() not in _NODE_METHODS.get(segments, set()):
        message = f"{node.get('method')} {node.get('url')} is not a supported composite graph node"
        raise InvalidGraph(message, reference_id)
    return reference_id


def _depth(nodes: list[dict[str, Any]]) -> int:
    depths: dict[str, int] = {}
    for node in nodes:
        text = str(node.get("url", "")) + orjson.dumps(node.get("body")).decode()
        parents = [depths.get(match.group(1), 0) for match in REFERENCE.finditer(text)]
        depths[str(node["referenceId"])] = 1 + max(parents, default=0)
    return max(depths.values(), default=0)


def check_graph(graph: Any, seen_ids: set[str]) -> tuple[str, list[dict[str, Any]]]:
    """The graph's id and nodes, or `InvalidGraph` naming the rule it breaks."""
    if not isinstance(graph, dict) or not isinstance(graph.get("compositeRequest"), list):
        raise InvalidGraph("Each graph needs a graphId and a compositeRequest array")
    graph_id = str(graph.get("graphId", ""))
    if not _GRAPH_ID.fullmatch(graph_id) or graph_id in seen_ids:
        raise InvalidGraph(f"Invalid graphId {graph_id!r}: unique, alphanumeric first, under 40 characters, no '.'")
    nodes: list[dict[str, Any]] = graph["compositeRequest"]
    if not nodes or len(nodes) > MAX_NODES:
        raise InvalidGraph(f"A graph has 1 to {MAX_NODES} nodes")
    references: set[str] = set()
    for node in nodes:
        reference_id = _check_node(node)
        if reference_id in references:
            raise InvalidGraph(f"Duplicate referenceId {reference_id} in graph {graph_id}", reference_id)
        references.add(reference_id)
    if _depth(nodes) > MAX_DEPTH:
        raise InvalidGraph(f"Graph {graph_id} is deeper than {MAX_DEPTH}")
    return graph_id, nodes


def _check_payload(body: Any) -> list[Any]:
    graphs = body.get("graphs") if isinstance(body, dict) else None
    if not isinstance(graphs, list) or not graphs:
        raise InvalidGraph("graphs is required")
    if len(graphs) > MAX_GRAPHS:
        raise InvalidGraph(f"A composite graph request can have at most {MAX_GRAPHS} graphs")
    nodes = [n for g in graphs if isinstance(g, dict) for n in g.get("compositeRequest") or () if isinstance(n, dict)]
    if len(nodes) > MAX_NODES:
        raise InvalidGraph(f"A composite graph request can have at most {MAX_NODES} nodes")
    if len({node_kind(n) for n in nodes}) > MAX_DIFFERENT_NODES:
        raise InvalidGraph(f"A composite graph request can have at most {MAX_DIFFERENT_NODES} different nodes")
    return graphs


def _refused(graph: Any, problem: InvalidGraph) -> list[dict[str, Any]]:
    """A graph that breaks a rule: the offending node (or the first) carries the error, the others halt."""
    nodes = graph.get("compositeRequest") if isinstance(graph, dict) else None
    refs = [str(n.get("referenceId", "")) if isinstance(n, dict) else "" for n in nodes or [{}]]
    at = refs.index(problem.reference_id) if problem.reference_id in refs else 0
    body = [{"errorCode": "INVALID_BATCH_REQUEST", "message": problem.message}]
    return [
        {"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref} if i == at else halted(ref)
        for i, ref in enumerate(refs)
    ]


def _graph_response(graph_id: str, responses: list[dict[str, Any]], ok: bool) -> dict[str, Any]:
    return {"graphId": graph_id, "graphResponse": {"compositeResponse": responses}, "isSuccessful": ok}


class GraphRoutes:
    """`POST /composite/graph`, running each graph's nodes through the Composite machinery in a transaction."""

    def __init__(self, org: Org, composite: CompositeRoutes) -> None:
        self.org = org
        self.composite = composite

    def routes(self) -> list[Route]:
        """The graph route."""
        return [Route(BASE + "/composite/graph", self.graph, methods=["POST"])]

    async def graph(self, request: Request) -> Response:
        """Run every graph of the payload; 200 with one `graphResponse` per graph, in order."""
        try:
            graphs = _check_payload(await json_body(request))
        except ValueError as exc:
            return error(400, "JSON_PARSER_ERROR", str(exc))
        except InvalidGraph as problem:
            return error(400, "INVALID_BATCH_REQUEST", problem.message)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        failures = 0
        for graph in graphs:
            graph_id = str(graph.get("graphId", "")) if isinstance(graph, dict) else ""
            if failures > MAX_FAILED_GRAPHS - 1:
                nodes = graph.get("compositeRequest") if isinstance(graph, dict) else []
                halted_all = [halted(str(n.get("referenceId", ""))) for n in nodes or [] if isinstance(n, dict)]
                out.append(_graph_response(graph_id, halted_all, ok=False))
                continue
            result = await self._one(request, graph, seen)
            failures += 0 if result["isSuccessful"] else 1
            out.append(result)
        return JSON({"graphs": out})

    async def _one(self, request: Request, graph: Any, seen: set[str]) -> dict[str, Any]:
        try:
            graph_id, nodes = check_graph(graph, seen)
        except InvalidGraph as problem:
            return _graph_response(str(graph.get("graphId", "")), _refused(graph, problem), ok=False)
        seen.add(graph_id)
        tx = Transaction(self.org.store)
        try:
            responses = await self.composite.run_all(request, nodes, tx)
        except BaseException:
            tx.rollback()  # a crash or a cancelled request must not leave half a graph or its locks
            self.org.release(tx)
            raise
        committed = await self.composite.finish(request, tx, responses)
        return _graph_response(graph_id, responses, ok=committed)
