"""Writing a catalog to disk: the snapshot, then Markdown pages and SVG diagrams, or one JSON document.

result = write_catalog(Path("cat"), snapshot, org, findings)             # Markdown + SVG
result = write_catalog(Path("cat"), snapshot, org, findings, fmt="json")  # cat/catalog.json
result.paths, result.diagram_error
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bridge.catalog.diagram import DIAGRAMS_DIR, DiagramUnavailable, dot_source, render_svg
from bridge.catalog.document import render_pages
from bridge.catalog.findings import Finding
from bridge.catalog.model import ObjectDoc, Org
from bridge.catalog.snapshot import OrgSnapshot, write_snapshot


@dataclass(slots=True)
class WriteResult:
    """What was written, and why no SVG was (when Graphviz could not draw)."""

    paths: list[Path] = field(default_factory=list)
    diagram_error: str | None = None


def _object_json(obj: ObjectDoc) -> dict[str, Any]:
    document = asdict(obj)
    document["fields"] = [asdict(f) for _, f in sorted(obj.fields.items())]
    return document


def catalog_json(org: Org, findings: Sequence[Finding]) -> dict[str, Any]:
    """The catalog as one JSON-ready document: objects, relationships, findings, notes."""
    return {
        "objects": [_object_json(obj) for obj in org.objects.values()],
        "relationships": [{**asdict(rel), "kind": rel.kind} for rel in org.relationships],
        "findings": [f.as_json() for f in findings],
        "notes": list(org.notes),
    }


def _draw(out: Path, org: Org, result: WriteResult, on_diagram: Callable[[str], None]) -> set[str]:
    """SVGs of the overview and of each object with its neighbours; stops at the first Graphviz failure."""
    jobs: list[tuple[str, set[str], str | None]] = [("overview", set(org.objects), None)]
    jobs += [(name, org.neighbours(name), name) for name in org.objects if len(org.neighbours(name)) > 1]
    drawn: set[str] = set()
    for name, names, focus in jobs:
        try:
            svg = render_svg(dot_source(org, names, focus))
        except DiagramUnavailable as exc:
            result.diagram_error = str(exc)
            return drawn
        path = out / DIAGRAMS_DIR / f"{name}.svg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(svg)
        result.paths.append(path)
        drawn.add(name)
        on_diagram(name)
    return drawn


def write_catalog(
    out: Path,
    snapshot: OrgSnapshot,
    org: Org,
    findings: Sequence[Finding],
    *,
    fmt: str = "markdown",
    on_diagram: Callable[[str], None] | None = None,
) -> WriteResult:
    """Write the snapshot and the documentation under `out` (`fmt`: markdown or json)."""
    result = WriteResult(write_snapshot(out, snapshot))
    if fmt == "json":
        path = out / "catalog.json"
        path.write_bytes(orjson.dumps(catalog_json(org, findings), option=orjson.OPT_INDENT_2) + b"\n")
        result.paths.append(path)
        return result
    drawn = _draw(out, org, result, on_diagram or (lambda name: None))
    for name, text in render_pages(org, findings, drawn).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        result.paths.append(path)
    return result
