"""sObject Tree (`POST /composite/tree/{SObject}`): nested parent-child records created in one transaction.

"The request can contain up to a total of 200 records across all trees, up to five records of different
types, sObject trees up to five levels deep." Children sit under their child relationship name (`Contacts`,
`Opportunities`) as `{"records": [...]}`, each record with `attributes.type` and `attributes.referenceId`;
a child's lookup to its parent is filled in. Records are created level by level, and "triggers ... fire
separately for" the roots, then each level's records of one type. Success is 201 with every record's
`referenceId` and new `id` in that order; "If an error occurs while creating a record, the entire request
fails": 400 with `hasErrors` true and only the failing records. The request is one API call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulator.describe import child_relationships
from bridge.emulator.org import Org
from bridge.emulator.prepare import prepare_create
from bridge.emulator.profile import ObjectSpec
from bridge.emulator.responses import JSON, error, json_body
from bridge.emulator.results import SaveError
from bridge.emulator.routes_sobjects import BASE, caller_of
from bridge.emulator.transaction import Transaction
from bridge.errors import BridgeError

MAX_RECORDS = 200
MAX_TYPES = 5
MAX_LEVELS = 5


class MalformedTree(BridgeError):
    """The request body is not a tree of records (answered 400 JSON_PARSER_ERROR)."""


@dataclass(slots=True)
class TreeNode:
    """One record of a tree: its type, reference, own fields, level, and the lookup to its parent."""

    spec: ObjectSpec
    reference_id: str
    fields: dict[str, Any]
    level: int
    parent: TreeNode | None = None
    lookup: str | None = None
    id: str | None = None
    errors: list[SaveError] = field(default_factory=list)


class _Parser:
    """Flatten the nested request into nodes, collecting each record's errors."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.nodes: list[TreeNode] = []

    def records(
        self, items: Any, expected: ObjectSpec, level: int, parent: TreeNode | None, lookup: str | None
    ) -> None:
        if not isinstance(items, list):
            raise MalformedTree("records must be an array")
        for raw in items:
            self.record(raw, expected, level, parent, lookup)

    def record(self, raw: Any, expected: ObjectSpec, level: int, parent: TreeNode | None, lookup: str | None) -> None:
        attributes = raw.get("attributes") if isinstance(raw, dict) else None
        if not isinstance(attributes, dict):
            raise MalformedTree("Each record needs attributes with type and referenceId")
        reference_id = str(attributes.get("referenceId") or "")
        spec = self.org.sobject(str(attributes.get("type") or "")) or expected
        node = TreeNode(spec, reference_id, {}, level, parent, lookup)
        self.nodes.append(node)
        if not reference_id:
            node.errors.append(SaveError("INVALID_INPUT", "Include a reference ID for each record in the request."))
        if spec.name != expected.name:
            node.errors.append(
                SaveError("INVALID_TYPE", f"Record type {attributes.get('type')} is not {expected.name}")
            )
        children = {r["relationshipName"].lower(): r for r in child_relationships(spec, self.org.profile.objects)}
        for key, value in raw.items():
            relation = children.get(key.lower()) if isinstance(value, dict) and "records" in value else None
            if relation is None:
                if key != "attributes":
                    node.fields[key] = value
                continue
            child = self.org.profile.objects[relation["childSObject"]]
            self.records(value["records"], child, level + 1, node, relation["field"])


def _limits(nodes: list[TreeNode]) -> SaveError | None:
    if len(nodes) > MAX_RECORDS:
        return SaveError("LIMIT_EXCEEDED", f"The request can contain up to a total of {MAX_RECORDS} records")
    if len({n.spec.name for n in nodes}) > MAX_TYPES:
        return SaveError("LIMIT_EXCEEDED", f"The request can contain up to {MAX_TYPES} records of different types")
    if max(n.level for n in nodes) > MAX_LEVELS:
        return SaveError("LIMIT_EXCEEDED", f"sObject trees can be up to {MAX_LEVELS} levels deep")
    return None


def _duplicates(nodes: list[TreeNode]) -> None:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.reference_id] = counts.get(node.reference_id, 0) + 1
    for node in nodes:
        if node.reference_id and counts[node.reference_id] > 1:
            node.errors.append(
                SaveError("INVALID_INPUT", f"Duplicate ReferenceId provided in the request: {node.reference_id}")
            )


def processing_order(nodes: list[TreeNode]) -> list[list[TreeNode]]:
    """Groups saved one after the other: the roots, then per level the records of each type."""
    groups: dict[tuple[int, str], list[TreeNode]] = {}
    for node in sorted(nodes, key=lambda n: n.level):
        groups.setdefault((node.level, node.spec.name), []).append(node)
    return list(groups.values())


def _failed(nodes: list[TreeNode]) -> Response:
    results = [{"referenceId": n.reference_id, "errors": [e.as_item() for e in n.errors]} for n in nodes if n.errors]
    return JSON({"hasErrors": True, "results": results}, status_code=400)


class TreeRoutes:
    """Handlers bound to one org."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """`POST /composite/tree/{SObject}`."""
        return [Route(BASE + "/composite/tree/{sobject}", self.tree, methods=["POST"])]

    async def tree(self, request: Request) -> Response:
        """Create the trees of the request, all or nothing."""
        spec = self.org.sobject(request.path_params["sobject"])
        if spec is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        parser = _Parser(self.org)
        try:
            body = await json_body(request)
            parser.records(body.get("records") if isinstance(body, Mapping) else None, spec, 1, None, None)
        except (ValueError, MalformedTree) as exc:
            return error(400, "JSON_PARSER_ERROR", str(exc))
        nodes = parser.nodes
        if not nodes:
            return error(400, "INVALID_INPUT", "records must hold at least one record")
        limit = _limits(nodes)
        if limit is not None:
            nodes[0].errors.append(limit)
            return _failed(nodes)
        _duplicates(nodes)
        if any(n.errors for n in nodes):
            return _failed(nodes)
        return await self._create(request, nodes)

    async def _create(self, request: Request, nodes: list[TreeNode]) -> Response:
        caller = caller_of(self.org, request, request.path_params["version"])
        tx = Transaction(self.org.store)
        order: list[TreeNode] = []
        try:
            for group in processing_order(nodes):
                ops = [prepare_create(n.spec, self._values(n)) for n in group]
                results, _ = await self.org.save_waiting(ops, all_or_none=True, caller=caller, tx=tx)
                for node, result in zip(group, results, strict=True):
                    node.id = result.id
                    node.errors = [e for e in result.errors if e.status_code != "ALL_OR_NONE_OPERATION_ROLLED_BACK"]
                order.extend(group)
                if any(n.errors for n in group):
                    tx.rollback()
                    self.org.release(tx)
                    return _failed(group)
        except BaseException:
            tx.rollback()
            self.org.release(tx)
            raise
        self.org.commit(tx, caller)
        await self.org.hold(tx)
        created = [{"referenceId": n.reference_id, "id": n.id} for n in order]
        return JSON({"hasErrors": False, "results": created}, status_code=201)

    @staticmethod
    def _values(node: TreeNode) -> dict[str, Any]:
        if node.parent is None or node.lookup is None:
            return node.fields
        return {**node.fields, node.lookup: node.parent.id}
