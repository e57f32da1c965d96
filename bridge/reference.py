"""Reference tables for the README: every setting (as its environment variable) and every metric family."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bridge.config import Settings
from bridge.metrics import Metrics


def _section(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _describe_default(info: FieldInfo) -> str:
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "(unset)"
    if isinstance(default, SecretStr):
        return "(secret)"
    if isinstance(default, tuple | list | dict):
        return json.dumps(default)
    return str(default)


def settings_rows(model: type[BaseModel] = Settings, prefix: str = "BRIDGE_") -> Iterator[tuple[str, str, str]]:
    """(environment variable, default, meaning) for every leaf setting; the meaning is the field's docstring."""
    for name, info in model.model_fields.items():
        section = _section(info.annotation)
        if section is not None:
            yield from settings_rows(section, f"{prefix}{name.upper()}__")
            continue
        yield f"{prefix}{name.upper()}", _describe_default(info), info.description or ""


def sections() -> Iterator[tuple[str, str, list[tuple[str, str, str]]]]:
    """(section name, its description, its rows) for every section of the root model."""
    for name, info in Settings.model_fields.items():
        section = _section(info.annotation)
        if section is not None:
            doc = (section.__doc__ or "").strip().splitlines()[0]
            yield name, doc, list(settings_rows(section, f"BRIDGE_{name.upper()}__"))


def metric_rows() -> Iterator[tuple[str, str, str, str]]:
    """(exposed name, type, labels, help) for every metric family a worker exports."""
    registry = CollectorRegistry()
    Metrics.create(registry)
    for family in sorted(registry.collect(), key=lambda f: f.name):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = _labels_of(registry, family.name)
        yield name, family.type, ", ".join(labels), family.documentation


def _labels_of(registry: CollectorRegistry, family_name: str) -> list[str]:
    collector = registry._names_to_collectors.get(family_name)  # prometheus_client has no public lookup
    return list(getattr(collector, "_labelnames", ()))


def markdown_settings() -> str:
    """The configuration reference: one Markdown table per section."""
    lines: list[str] = []
    for name, doc, rows in sections():
        lines += [f"**`{name}`**: {doc}", "", "| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{env}` | `{default}` | {_cell(meaning)} |" for env, default, meaning in rows]
        lines.append("")
    return "\n".join(lines).rstrip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", r"\|")


def markdown_metrics() -> str:
    """The metrics reference as a Markdown table."""
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {labels} | {doc} |" for name, kind, labels, doc in metric_rows()]
    return "\n".join(lines)


START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def reference_block() -> str:
    """What `crm-bridge config --reference` prints and the README holds between its reference markers."""
    return f"### Settings\n\n{markdown_settings()}\n\n### Metrics\n\n{markdown_metrics()}"


def synced_readme(text: str) -> str:
    """`text` (a README) with the block between the reference markers replaced by the current reference."""
    head, found_start, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found_start and found_end):
        raise ValueError(f"the README has no {START} ... {END} block")
    return f"{head}{START}\n{reference_block()}\n{END}{tail}"
