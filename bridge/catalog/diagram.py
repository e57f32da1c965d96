"""Entity-relationship diagrams of the documented org: Mermaid text for the Markdown, SVG through Graphviz.

A lookup is drawn dashed from the child to its parent, a master-detail relationship solid and bold; a relationship
whose parent's deletion deletes the children is red and labelled "cascade delete". One diagram covers the whole
catalog, and one per object covers it and its neighbours.

    text = mermaid(org, org.objects)                    # an erDiagram block's body
    svg = render_svg(dot_source(org, org.neighbours("Invoice__c"), focus="Invoice__c"))

SVG needs Graphviz's `dot` program (`apt-get install graphviz`); without it `render_svg` raises
`DiagramUnavailable` and the Markdown keeps its Mermaid diagrams.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import graphviz

from bridge.catalog.discovery import AUDIT_FIELDS
from bridge.catalog.model import FieldDoc, ObjectDoc, Org, Relationship
from bridge.errors import BridgeError

MAX_KEY_FIELDS = 12
DIAGRAMS_DIR = "diagrams"
_FILL = {"standard": "#e8eef7", "focus": "#fde68a"}
_CUSTOM_FILL = "#e3f1e3"


class DiagramUnavailable(BridgeError):
    """Graphviz could not render the diagram (most often: its `dot` program is not installed)."""


def _keys(obj: ObjectDoc, shown: set[str]) -> list[tuple[FieldDoc, str]]:
    """The fields a diagram shows: external IDs (UK), then lookups to shown objects (FK)."""
    keys = [(f, "UK") for f in obj.fields.values() if f.external_id]
    keys += [
        (f, "FK")
        for f in obj.fields.values()
        if f.type == "reference" and f.name not in AUDIT_FIELDS and set(f.reference_to) & shown
    ]
    return keys[:MAX_KEY_FIELDS]


def _mermaid_entity(obj: ObjectDoc, shown: set[str]) -> list[str]:
    lines = [f"    {obj.name} {{"]
    for f, key in _keys(obj, shown):
        if key == "UK" and not f.unique:
            lines.append(f'        {f.type} {f.name} "external ID, not unique"')
            continue
        note = "external ID" if key == "UK" else "to " + ", ".join(f.reference_to)
        lines.append(f'        {f.type} {f.name} {key} "{note}"')
    return [*lines, "    }"] if len(lines) > 1 else [f"    {obj.name}"]


def _mermaid_relationship(rel: Relationship) -> str:
    # Master-detail: a detail has exactly one master (identifying, solid); a lookup may be empty (dotted).
    link = "||--o{" if rel.master_detail else "|o..o{"
    label = rel.field + (" (master-detail, cascade delete)" if rel.cascade_delete else f" ({rel.kind})")
    if rel.cascade_delete and not rel.master_detail:
        label = f"{rel.field} (lookup, cascade delete)"
    return f'    {rel.parent} {link} {rel.child} : "{label}"'


def mermaid(org: Org, names: Iterable[str]) -> str:
    """The body of a Mermaid `erDiagram` over `names` and the relationships between them."""
    shown = set(names)
    lines = ["erDiagram"]
    for name in sorted(shown):
        lines.extend(_mermaid_entity(org.objects[name], shown))
    lines.extend(_mermaid_relationship(rel) for rel in org.relationships_of(shown))
    return "\n".join(lines)


def _node_label(obj: ObjectDoc, shown: set[str], focus: bool) -> str:
    fill = _FILL["focus"] if focus else _FILL.get(obj.kind, _CUSTOM_FILL)
    facts = [obj.kind]
    if obj.record_count is not None:
        facts.append(f"{obj.record_count:,} records")
    if obj.cdc:
        facts.append("CDC")
    rows = [
        f'<tr><td bgcolor="{fill}"><b>{html.escape(obj.name)}</b><br/>'
        f'<font point-size="9">{html.escape(obj.label)} · {html.escape(", ".join(facts))}</font></td></tr>'
    ]
    for f, key in _keys(obj, shown):
        text = f"{key} {f.name}" + (f" → {', '.join(f.reference_to)}" if key == "FK" else "")
        if key == "UK" and not f.unique:
            text = f"{f.name} (external ID, not unique)"
        rows.append(f'<tr><td align="left" port="{html.escape(f.name)}">{html.escape(text)}</td></tr>')
    return '<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">' + "".join(rows) + "</table>>"


def dot_source(org: Org, names: Iterable[str], focus: str | None = None) -> str:
    """Graphviz DOT of `names` and the relationships between them; `focus` is highlighted."""
    shown = set(names)
    graph = graphviz.Digraph("erd", graph_attr={"rankdir": "LR", "nodesep": "0.35", "ranksep": "1.1"})
    graph.attr("node", shape="plain", fontname="Helvetica", fontsize="10")
    graph.attr("edge", fontname="Helvetica", fontsize="9", dir="both", arrowtail="crow")
    for name in sorted(shown):
        graph.node(name, label=_node_label(org.objects[name], shown, name == focus))
    ports = {name: {f.name for f, _ in _keys(org.objects[name], shown)} for name in shown}
    for rel in org.relationships_of(shown):
        attributes = {
            "style": "bold" if rel.master_detail else "dashed",
            "arrowhead": "teetee" if rel.master_detail else "teeodot",
            "color": "firebrick" if rel.cascade_delete else "#4b5563",
            "tooltip": f"{rel.child}.{rel.field} → {rel.parent} ({rel.kind})",
        }
        if rel.cascade_delete:
            attributes["label"] = "cascade delete"
            attributes["fontcolor"] = "firebrick"
        tail = f"{rel.child}:{rel.field}" if rel.field in ports[rel.child] else rel.child
        graph.edge(tail, rel.parent, **attributes)
    return str(graph.source)


def render_svg(source: str) -> bytes:
    """The SVG Graphviz's `dot` draws from `source`; `DiagramUnavailable` when it cannot."""
    try:
        svg = graphviz.Source(source).pipe(format="svg", quiet=True)
    except graphviz.ExecutableNotFound as exc:
        raise DiagramUnavailable("Graphviz's dot program is not installed (apt-get install graphviz)") from exc
    except (graphviz.CalledProcessError, OSError) as exc:
        raise DiagramUnavailable(f"Graphviz could not draw the diagram: {exc}") from exc
    return bytes(svg)
