"""Field transforms, path readers and ordering versions: the value-level part of a mapping.

Each transform named in a mapping (`trim`, `upper`, `lower`, `number`, `integer`, `string`,
`date:<strptime format>`, `datetime:<strptime format>`) is compiled once (`transform_for`); each path is parsed
once into a reader (`path_getter`). Both are applied to every event, so nothing here re-parses per event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bridge.processing.records import InboundEvent

MISSING = object()
"""What a path reader returns for a path that is absent (distinct from an explicit null)."""


class TransformError(ValueError):
    """A transform could not convert its input (internal to mapping; surfaces as a MappingFailure)."""


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TransformError(f"not a number: {value!r}")
    if isinstance(value, int | float):
        return value
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise TransformError(f"not a number: {value!r}") from exc
    if not parsed.is_finite():
        raise TransformError(f"not a finite number: {value!r}")
    return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)


def _integer(value: Any) -> int:
    number = _number(value)
    if isinstance(number, float):
        raise TransformError(f"not an integer: {value!r}")
    return number


def _strptime(fmt: str, *, keep_time: bool) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        try:
            parsed = datetime.strptime(str(value), fmt)
        except ValueError as exc:
            raise TransformError(f"{value!r} does not match {fmt!r}") from exc
        if not keep_time:
            return parsed.date().isoformat()
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return convert


def _text(func: Callable[[str], str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise TransformError(f"not text: {value!r}")
        return func(value)

    return convert


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "trim": _text(str.strip),
    "upper": _text(str.upper),
    "lower": _text(str.lower),
    "number": _number,
    "integer": _integer,
    "string": lambda value: value if isinstance(value, str) else orjson.dumps(value).decode(),
}


@functools.lru_cache(maxsize=256)
def transform_for(name: str) -> Callable[[Any], Any]:
    """The transform called `name`; raises ValueError for an unknown one (at load time)."""
    if name in _SIMPLE:
        return _SIMPLE[name]
    kind, _, fmt = name.partition(":")
    if kind in {"date", "datetime"} and fmt:
        return _strptime(fmt, keep_time=kind == "datetime")
    raise ValueError(f"unknown transform {name!r}")


@functools.lru_cache(maxsize=1024)
def path_getter(path: str) -> Callable[[InboundEvent], Any]:
    """A compiled reader for `path` (parsed once: mappings are applied to every event)."""
    head, _, rest = path.partition(".")
    if head != "data":
        return lambda event: MISSING if (value := event.attribute(path)) is None else value
    parts = tuple(rest.split(".")) if rest else ()

    def get(event: InboundEvent) -> Any:
        node: Any = event.data
        for part in parts:
            if not isinstance(node, Mapping):
                return MISSING
            node = node.get(part, MISSING)
            if node is MISSING:
                return MISSING
        return node

    return get


def resolve(event: InboundEvent, path: str) -> Any:
    """The value at `path`: `data.a.b` in the payload, else an envelope attribute; `MISSING` if absent."""
    return path_getter(path)(event)


def to_version(value: Any) -> int | None:
    """An ordering version: an integer as is, a datetime (or ISO text) as epoch microseconds."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        raise TransformError(f"not a version: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise TransformError(f"not a version: {value!r}") from exc
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1_000_000)
    raise TransformError(f"not a version: {value!r}")


def compile_field(
    source: str | None, const: Any, transforms: tuple[str, ...], *, required: bool, parent_field: str | None
) -> Callable[[InboundEvent], Any]:
    """A reader of one target field's value, with its path and transforms looked up once: the value, `MISSING`
    for an absent optional source, `{parent_field: value}` for a parent reference; raises `TransformError`."""
    if source is None:
        return lambda event: const
    get = path_getter(source)
    steps = tuple(transform_for(name) for name in transforms)

    def read(event: InboundEvent) -> Any:
        value = get(event)
        if value is MISSING:
            if required:
                raise TransformError(f"{source} is missing")
            return MISSING
        if value is None:
            return None
        for step in steps:
            value = step(value)
        return value if parent_field is None else {parent_field: value}

    return read
