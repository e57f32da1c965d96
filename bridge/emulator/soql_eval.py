"""Running a parsed SOQL query over one object's rows: names bound to the describe, filter, order, page, shape.

Rows are mappings keyed by the describe's field names. Parents of relationship paths (`Account.Name`) come
from a `resolve(sobject, id)` callback and describes from a `describe(sobject)` callback (None when unknown),
so the engine needs nothing else from the org.

    result = execute(parse_soql(text), rows, describe, resolve, now=clock(), sobjects_url=SOBJECTS_URL)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from bridge.emulator.soql import (
    BoolOp,
    Comparison,
    Condition,
    CountOf,
    FieldRef,
    FieldsOf,
    Literal,
    SoqlError,
    SoqlQuery,
    positioned,
)
from bridge.emulator.soql_values import compare, date_range, in_range, like, normalized

MAX_OFFSET = 2000
DescribeFn = Callable[[str], Mapping[str, Any] | None]
ResolveFn = Callable[[str, str], Mapping[str, Any] | None]

_STRING_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url", "encryptedstring"}
)
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
_TYPE_WORDS = {"number": "double", "boolean": "boolean", "date": "date", "datetime": "dateTime", "string": "string"}
_LITERAL_FITS = {
    "string": {"string"},
    "id": {"string"},
    "number": {"number"},
    "boolean": {"boolean"},
    "date": {"date", "date_literal"},
    "datetime": {"datetime", "date_literal"},
}
_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append "
    "the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom relationship, be "
    "sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call "
    "for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the "
    "'__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
)


class QueryResult(NamedTuple):
    """What a query answers: `totalSize` and every matching record (paging is the route's business)."""

    total_size: int
    records: list[dict[str, Any]]


class Hop(NamedTuple):
    """One step along a relationship: the lookup field holding the parent id, its relationship name, the parent."""

    lookup_field: str
    relationship: str
    sobject: str


@dataclass(frozen=True)
class BoundField:
    """A field path resolved against describes: the hops to the parent, the final field's name and type."""

    hops: tuple[Hop, ...]
    name: str
    type: str

    @property
    def category(self) -> str:
        """How values compare: string, id, number, boolean, date, datetime or other."""
        if self.type in _STRING_TYPES:
            return "string"
        if self.type in ("id", "reference"):
            return "id"
        if self.type in _NUMBER_TYPES:
            return "number"
        return self.type if self.type in ("boolean", "date", "datetime") else "other"

    def value(self, row: Mapping[str, Any], resolve: ResolveFn) -> Any:
        """The field's value in `row`, following lookups through `resolve` (None along a missing parent)."""
        current: Mapping[str, Any] | None = row
        for hop in self.hops:
            parent_id = current.get(hop.lookup_field) if current is not None else None
            current = resolve(hop.sobject, parent_id) if parent_id else None
        return None if current is None else current.get(self.name)


def _fields(describe: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(field["name"]).lower(): field for field in describe.get("fields", [])}


class _Binder:
    """Binds field paths of one query to the describes, raising `INVALID_FIELD` as the API does."""

    def __init__(self, query: SoqlQuery, describe: DescribeFn) -> None:
        self.query = query
        self.describe = describe
        root = describe(query.sobject)
        if root is None:
            detail = _NO_TYPE.format(name=query.sobject)
            raise SoqlError("INVALID_TYPE", positioned(query.text, query.sobject_pos, detail))
        self.root = root
        self.sobject = str(root["name"])
        self._cache: dict[str, dict[str, Mapping[str, Any]]] = {self.sobject: _fields(root)}

    def fields_of(self, sobject: str) -> dict[str, Mapping[str, Any]]:
        if sobject not in self._cache:
            self._cache[sobject] = _fields(self.describe(sobject) or {})
        return self._cache[sobject]

    def bind(self, ref: FieldRef) -> BoundField:
        path = ref.path
        if len(path) > 1 and path[0].lower() == self.sobject.lower():
            path = path[1:]  # `Account.Name` in a query FROM Account names the object itself
        sobject, hops = self.sobject, []
        for name in path[:-1]:
            lookup = self._relationship(sobject, name)
            if lookup is None:
                raise SoqlError("INVALID_FIELD", self._at(ref, _NO_RELATIONSHIP.format(name=name)))
            target = str(lookup["referenceTo"][0])
            hops.append(Hop(str(lookup["name"]), str(lookup["relationshipName"]), target))
            sobject = target
        field = self.fields_of(sobject).get(path[-1].lower())
        if field is None:
            raise SoqlError("INVALID_FIELD", self._at(ref, _NO_COLUMN.format(name=".".join(ref.path), entity=sobject)))
        return BoundField(tuple(hops), str(field["name"]), str(field.get("type", "string")))

    def _relationship(self, sobject: str, name: str) -> Mapping[str, Any] | None:
        for field in self.fields_of(sobject).values():
            relationship = field.get("relationshipName")
            if relationship and str(relationship).lower() == name.lower() and field.get("referenceTo"):
                return field
        return None

    def _at(self, ref: FieldRef, detail: str) -> str:
        return positioned(self.query.text, ref.pos, detail)

    def expand(self, item: FieldsOf) -> list[BoundField]:
        """The fields `FIELDS(ALL|STANDARD|CUSTOM)` stands for, in describe order."""
        if item.kind != "STANDARD" and (self.query.limit is None or self.query.limit > 200):
            detail = "The SOQL FIELDS function must have a LIMIT of at most 200"
            raise SoqlError("MALFORMED_QUERY", positioned(self.query.text, item.pos, detail))
        chosen = []
        for field in self.root.get("fields", []):
            custom = bool(field.get("custom"))
            wanted = item.kind == "ALL" or custom == (item.kind == "CUSTOM")
            if wanted and field.get("type") not in ("address", "location"):
                chosen.append(BoundField((), str(field["name"]), str(field.get("type", "string"))))
        return chosen

    def check_literal(self, bound: BoundField, comparison: Comparison) -> None:
        """Refuse a literal of the wrong type for the field, worded as the API words it."""
        category = bound.category
        if comparison.op in ("LIKE",) and category not in ("string", "id"):
            detail = f"invalid operator on {bound.type} field: LIKE"
            raise SoqlError("INVALID_FIELD", self._at(comparison.field, detail))
        fits = _LITERAL_FITS.get(category)
        for literal in comparison.values:
            if fits is None or literal.kind == "null" or literal.kind in fits:
                continue
            word = _TYPE_WORDS.get(category, category)
            quoted = (
                "should be enclosed in quotes" if category in ("string", "id") else "should not be enclosed in quotes"
            )
            detail = f"value of filter criterion for field '{bound.name}' must be of type {word} and {quoted}"
            raise SoqlError("MALFORMED_QUERY", positioned(self.query.text, literal.pos, detail))


class _Matcher:
    """Evaluates a WHERE condition against rows with the fields already bound."""

    def __init__(self, bound: dict[FieldRef, BoundField], resolve: ResolveFn, now: datetime) -> None:
        self.bound = bound
        self.resolve = resolve
        self.now = now
        self._literals: dict[tuple[int, str], Any] = {}

    def __call__(self, condition: Condition, row: Mapping[str, Any]) -> bool:
        if isinstance(condition, BoolOp):
            if condition.op == "NOT":
                return not self(condition.items[0], row)
            if condition.op == "AND":
                return all(self(item, row) for item in condition.items)
            return any(self(item, row) for item in condition.items)
        return self.comparison(condition, row)

    def comparison(self, comparison: Comparison, row: Mapping[str, Any]) -> bool:
        field = self.bound[comparison.field]
        value = normalized(field.category, field.value(row, self.resolve))
        if comparison.op == "LIKE":
            return value is not None and like(str(comparison.values[0].value)).fullmatch(str(value)) is not None
        if comparison.op in ("IN", "NOT IN"):
            found = any(self.literal_matches("=", field.category, value, item) for item in comparison.values)
            return found if comparison.op == "IN" else not found
        return self.literal_matches(comparison.op, field.category, value, comparison.values[0])

    def literal_matches(self, op: str, category: str, value: Any, literal: Literal) -> bool:
        key = (id(literal), category)
        if key not in self._literals:  # each literal is normalized once per query, not once per row
            self._literals[key] = self.literal_value(category, literal)
        if literal.kind == "date_literal":
            return in_range(op, value, self._literals[key])
        return compare(op, value, self._literals[key])

    def literal_value(self, category: str, literal: Literal) -> Any:
        if literal.kind == "date_literal":
            return date_range(literal, category, self.now)
        raw = literal.value
        if isinstance(raw, str) and literal.kind == "string":
            raw = raw.replace("\\%", "%").replace("\\_", "_")
        return normalized(category, raw)


def _order_key(field: BoundField, nulls_first: bool, resolve: ResolveFn) -> Callable[[Mapping[str, Any]], Any]:
    null_group = 0 if nulls_first else 2

    def key(row: Mapping[str, Any]) -> tuple[int, Any]:
        value = normalized(field.category, field.value(row, resolve))
        return (null_group, 0) if value is None else (1, value)

    return key


class _Shaper:
    """Builds result records as the API returns them: `attributes`, describe-cased names, nested parents."""

    def __init__(self, sobject: str, fields: list[BoundField], resolve: ResolveFn, sobjects_url: str) -> None:
        self.sobject = sobject
        self.fields = fields
        self.resolve = resolve
        self.sobjects_url = sobjects_url

    def attributes(self, sobject: str, row: Mapping[str, Any]) -> dict[str, str]:
        return {"type": sobject, "url": f"{self.sobjects_url}/{sobject}/{row.get('Id')}"}

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": self.attributes(self.sobject, row)}
        for field in self.fields:
            self._place(record, row, field)
        return record

    def _place(self, record: dict[str, Any], row: Mapping[str, Any], field: BoundField) -> None:
        target, current = record, row
        for hop in field.hops:
            parent_id = current.get(hop.lookup_field)
            parent = self.resolve(hop.sobject, parent_id) if parent_id else None
            if parent is None:
                target.setdefault(hop.relationship, None)
                return
            nested = target.get(hop.relationship)
            if nested is None:
                nested = target[hop.relationship] = {"attributes": self.attributes(hop.sobject, parent)}
            target, current = nested, parent
        target[field.name] = current.get(field.name)


def _bind_where(binder: _Binder, condition: Condition | None, bound: dict[FieldRef, BoundField]) -> None:
    if condition is None:
        return
    if isinstance(condition, BoolOp):
        for item in condition.items:
            _bind_where(binder, item, bound)
        return
    field = binder.bind(condition.field)
    binder.check_literal(field, condition)
    bound[condition.field] = field


def _selected(binder: _Binder, query: SoqlQuery) -> list[BoundField]:
    fields: list[BoundField] = []
    for item in query.select:
        if isinstance(item, FieldsOf):
            fields.extend(binder.expand(item))
        elif isinstance(item, FieldRef):
            if query.is_aggregate:
                detail = f"Field must be grouped or aggregated: {'.'.join(item.path)}"
                raise SoqlError("MALFORMED_QUERY", positioned(query.text, item.pos, detail))
            fields.append(binder.bind(item))
        elif item.field is not None:
            binder.bind(item.field)
    unique: dict[tuple[tuple[Hop, ...], str], BoundField] = {}
    for field in fields:
        unique.setdefault((field.hops, field.name), field)
    return list(unique.values())


def _aggregate(query: SoqlQuery, binder: _Binder, rows: list[Mapping[str, Any]], resolve: ResolveFn) -> QueryResult:
    if query.is_count:
        return QueryResult(len(rows), [])
    record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
    for index, item in enumerate(i for i in query.select if isinstance(i, CountOf)):
        assert item.field is not None  # noqa: S101 - COUNT() was answered above
        field = binder.bind(item.field)
        record[item.alias or f"expr{index}"] = sum(1 for row in rows if field.value(row, resolve) is not None)
    return QueryResult(1, [record])


def execute(
    query: SoqlQuery,
    rows: Iterable[Mapping[str, Any]],
    describe: DescribeFn,
    resolve: ResolveFn,
    *,
    now: datetime,
    sobjects_url: str,
) -> QueryResult:
    """Run `query` over `rows` of `query.sobject`; raises `SoqlError` for unknown objects and fields.

    `now` anchors date literals such as TODAY; `sobjects_url` (`/services/data/v60.0/sobjects`) prefixes each
    record's `attributes.url`.
    """
    if (query.offset or 0) > MAX_OFFSET:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    binder = _Binder(query, describe)
    selected = _selected(binder, query)
    bound: dict[FieldRef, BoundField] = {}
    _bind_where(binder, query.where, bound)
    order = [(binder.bind(item.field), item) for item in query.order_by]
    matcher = _Matcher(bound, resolve, now)
    where = query.where
    matched = [row for row in rows if where is None or matcher(where, row)]
    if query.is_aggregate:
        return _aggregate(query, binder, matched, resolve)
    for field, item in reversed(order):
        nulls_first = not item.nulls_last
        matched.sort(key=_order_key(field, nulls_first != item.descending, resolve), reverse=item.descending)
    start = query.offset or 0
    stop = None if query.limit is None else start + query.limit
    page = matched[start:stop]
    shape = _Shaper(binder.sobject, selected, resolve, sobjects_url)
    return QueryResult(len(page), [shape(row) for row in page])
