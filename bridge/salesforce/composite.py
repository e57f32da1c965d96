"""Composite Graph and sObject Tree requests for the client: built within their documented limits, results read.

A Composite Graph (`/composite/graph`) writes parents and children in one call: each graph is all or nothing,
nodes refer to earlier nodes with `@{referenceId.id}`, and one request may hold up to 75 graphs and 500 nodes.
A failed graph reports its failing node's error; its other nodes answer PROCESSING_HALTED.

    account = upsert_node(base, "Account", "Ext__c", "A-1", {"Name": "Acme"}, reference_id="account")
    deal = upsert_node(base, "Opportunity", "Ext__c", "O-1", {"Name": "Deal", "AccountId": reference("account")},
                       reference_id="deal")
    [result] = await sf.composite_graph([Graph("g1", (account, deal))])
    result.is_successful, result.ids(), result.error

An sObject Tree (`/composite/tree/{SObject}`) creates up to 200 new records with their children in one call,
all or nothing; build the records with `tree_record`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.salesforce.paths import api_name, external_id_segment, record_id
from bridge.salesforce.results import RecordError, SubResponse

MAX_GRAPHS = 75
MAX_GRAPH_NODES = 500
MAX_TREE_RECORDS = 200
HALTED = "PROCESSING_HALTED"
_GRAPH_ID = re.compile(r"[A-Za-z0-9][^.]{0,38}")  # unique, alphanumeric first, under 40 characters, no '.'
_REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One subrequest of a graph, on one record."""

    reference_id: str
    method: str
    url: str
    body: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The subrequest as the API takes it."""
        node: dict[str, Any] = {"method": self.method, "url": self.url, "referenceId": self.reference_id}
        if self.body is not None:
            node["body"] = dict(self.body)
        return node


def reference(reference_id: str, field: str = "id") -> str:
    """`@{reference_id.field}`: the value of an earlier node's result (its new record's `id` by default)."""
    return f"@{{{reference_id}.{field}}}"


def create_node(base_path: str, sobject: str, fields: Mapping[str, Any], *, reference_id: str) -> GraphNode:
    """`POST /sobjects/{S}`: create a record."""
    return GraphNode(reference_id, "POST", f"{base_path}/sobjects/{api_name(sobject)}", fields)


def upsert_node(
    base_path: str,
    sobject: str,
    external_id_field: str,
    value: str,
    fields: Mapping[str, Any],
    *,
    reference_id: str,
) -> GraphNode:
    """`PATCH /sobjects/{S}/{field}/{value}`; raises `ExternalIdNotInPath` for a value no URL path can carry."""
    url = f"{base_path}/sobjects/{api_name(sobject)}/{api_name(external_id_field)}/{external_id_segment(value)}"
    return GraphNode(reference_id, "PATCH", url, fields)


def update_node(
    base_path: str, sobject: str, record: str, fields: Mapping[str, Any], *, reference_id: str
) -> GraphNode:
    """`PATCH /sobjects/{S}/{id}`: update a record by Id (which may be a `reference(...)`)."""
    target = record if record.startswith("@{") else record_id(record)
    return GraphNode(reference_id, "PATCH", f"{base_path}/sobjects/{api_name(sobject)}/{target}", fields)


@dataclass(frozen=True, slots=True)
class Graph:
    """A graph: nodes saved together or not at all."""

    graph_id: str
    nodes: tuple[GraphNode, ...]


def graph_body(graphs: Sequence[Graph]) -> dict[str, Any]:
    """The request body; ValueError when it breaks a documented limit (a programming error of the caller)."""
    if not 1 <= len(graphs) <= MAX_GRAPHS:
        raise ValueError(f"{len(graphs)} graphs: a composite graph request takes 1 to {MAX_GRAPHS}")
    if sum(len(g.nodes) for g in graphs) > MAX_GRAPH_NODES:
        raise ValueError(f"a composite graph request takes at most {MAX_GRAPH_NODES} nodes in all")
    seen: set[str] = set()
    for graph in graphs:
        if not _GRAPH_ID.fullmatch(graph.graph_id) or graph.graph_id in seen:
            raise ValueError(f"graphId {graph.graph_id!r}: unique, alphanumeric first, under 40 characters, no '.'")
        seen.add(graph.graph_id)
        references = [n.reference_id for n in graph.nodes]
        if not graph.nodes or len(set(references)) != len(references):
            raise ValueError(f"graph {graph.graph_id}: at least one node, and unique referenceIds")
        if not all(_REFERENCE_ID.fullmatch(r) for r in references):
            raise ValueError(f"graph {graph.graph_id}: referenceIds are letters, digits and underscores")
    return {"graphs": [{"graphId": g.graph_id, "compositeRequest": [n.to_json() for n in g.nodes]} for g in graphs]}


@dataclass(frozen=True, slots=True)
class GraphResult:
    """One graph's outcome: `is_successful`, and every node's subresponse in request order."""

    graph_id: str
    is_successful: bool
    responses: tuple[SubResponse, ...]

    @property
    def error(self) -> RecordError | None:
        """The error that failed the graph (not a PROCESSING_HALTED of the nodes it took down with it)."""
        for response in self.responses:
            entries = response.body if isinstance(response.body, list) else []
            for entry in entries:
                if isinstance(entry, Mapping) and (entry.get("errorCode") or entry.get("statusCode")) != HALTED:
                    return RecordError.from_json(entry)
        return None

    def ids(self) -> dict[str, str]:
        """Reference id → record id of every node that answered one."""
        out = {}
        for response in self.responses:
            if 200 <= response.http_status < 300 and isinstance(response.body, Mapping) and response.body.get("id"):
                out[response.reference_id] = str(response.body["id"])
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GraphResult:
        nodes = (raw.get("graphResponse") or {}).get("compositeResponse") or ()
        responses = tuple(SubResponse.from_json(n) for n in nodes)
        return cls(str(raw.get("graphId", "")), bool(raw.get("isSuccessful", False)), responses)


def tree_record(
    sobject: str,
    reference_id: str,
    fields: Mapping[str, Any],
    children: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One record of an sObject Tree, its children under their relationship names (`Contacts`, ...)."""
    record: dict[str, Any] = {"attributes": {"type": api_name(sobject), "referenceId": reference_id}, **fields}
    for relationship, records in (children or {}).items():
        record[api_name(relationship)] = {"records": [dict(r) for r in records]}
    return record


def tree_size(records: Sequence[Mapping[str, Any]]) -> int:
    """How many records a tree request holds, children included."""
    total = 0
    for record in records:
        total += 1
        for value in record.values():
            if isinstance(value, Mapping) and isinstance(value.get("records"), list):
                total += tree_size(value["records"])
    return total


@dataclass(frozen=True, slots=True)
class TreeItem:
    """One record of a tree's result: its new `id`, or (when the request failed) its errors."""

    reference_id: str
    id: str | None
    errors: tuple[RecordError, ...] = ()


@dataclass(frozen=True, slots=True)
class TreeResult:
    """The outcome of an sObject Tree request: all records created, or the failing ones' errors."""

    has_errors: bool
    results: tuple[TreeItem, ...]

    def ids(self) -> dict[str, str]:
        """Reference id → new record id (empty when the request failed)."""
        return {item.reference_id: item.id for item in self.results if item.id}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TreeResult:
        items = tuple(
            TreeItem(
                str(item.get("referenceId", "")),
                str(item["id"]) if item.get("id") else None,
                tuple(RecordError.from_json(e) for e in item.get("errors") or ()),
            )
            for item in raw.get("results") or ()
        )
        return cls(bool(raw.get("hasErrors", False)), items)
