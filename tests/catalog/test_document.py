"""The documentation: relationships and diagrams (Mermaid and SVG), the pages, and the JSON document."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest

from bridge.catalog.diagram import DiagramUnavailable, dot_source, mermaid, render_svg
from bridge.catalog.document import render_pages
from bridge.catalog.findings import Finding, find_all
from bridge.catalog.model import Org
from bridge.catalog.output import write_catalog
from bridge.catalog.snapshot import OrgSnapshot
from bridge.processing.mapping import Mappings
from tests.catalog.conftest import context_for


@pytest.fixture(scope="module")
def found(messy: Org, shipped_mappings: Mappings) -> list[Finding]:
    return find_all(messy, context_for(shipped_mappings))


def relationship(org: Org, child: str, field: str) -> tuple[str, str, bool]:
    rel = next(r for r in org.relationships if (r.child, r.field) == (child, field))
    return rel.parent, rel.kind, rel.cascade_delete


def test_relationships_know_lookups_master_detail_and_cascade_delete(messy: Org) -> None:
    assert relationship(messy, "Invoice_Line__c", "Invoice__c") == ("Invoice__c", "master-detail", True)
    assert relationship(messy, "Stock_Level__c", "Product__c") == ("Product2", "master-detail", True)
    assert relationship(messy, "Shipment__c", "Warehouse__c") == ("Warehouse__c", "lookup", False)
    assert relationship(messy, "Account", "ParentId") == ("Account", "lookup", False)
    assert not any(r.field in {"CreatedById", "LastModifiedById"} for r in messy.relationships)
    assert not any(r.parent == "User" for r in messy.relationships)  # not documented: no edge
    assert messy.neighbours("Invoice__c") == {"Invoice__c", "Invoice_Line__c", "Payment__c", "Account"}


def test_mermaid_marks_master_detail_and_cascade_delete(messy: Org) -> None:
    text = mermaid(messy, messy.neighbours("Invoice__c"))
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    assert '    Invoice__c ||--o{ Invoice_Line__c : "Invoice__c (master-detail, cascade delete)"' in lines
    assert '    Account |o..o{ Invoice__c : "Account__c (lookup)"' in lines
    assert '        string Invoice_Number__c UK "external ID"' in lines
    assert '        string Legacy_Id__c "external ID, not unique"' in lines
    assert "Shipment__c" not in text  # only the neighbourhood
    # The erDiagram grammar: entity and attribute names of word characters only (anything else breaks it).
    grammar = (
        r"    \w+( \{)?",  # an entity, opening its attributes
        r"        [a-z]+ \w+( UK| FK)? \"[^\"]*\"",  # type name [key] "comment"
        r"    }",
        r"    \w+ (\|\|--o\{|\|o\.\.o\{) \w+ : \"[^\"]*\"",  # parent cardinality child : "label"
    )
    for line in lines[1:]:
        assert any(re.fullmatch(pattern, line) for pattern in grammar), line


def test_svg_of_the_overview_is_drawn_by_graphviz(messy: Org) -> None:
    svg = render_svg(dot_source(messy, messy.objects))
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own Graphviz output
    assert root.tag.endswith("svg")
    titles = {el.text for el in root.iter("{http://www.w3.org/2000/svg}title")}
    assert set(messy.objects) <= titles  # one node per object
    assert svg.count(b"cascade delete") == sum(r.cascade_delete for r in messy.relationships)


def test_without_graphviz_the_pages_keep_mermaid(
    messy: Org, messy_snapshot: OrgSnapshot, found: list[Finding], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DiagramUnavailable, match="apt-get install graphviz"):
        render_svg(dot_source(messy, ["Account"]))
    result = write_catalog(tmp_path / "out", messy_snapshot, messy, found)
    assert result.diagram_error is not None
    assert not (tmp_path / "out" / "diagrams").exists()
    index = (tmp_path / "out" / "README.md").read_text()
    assert "```mermaid" in index
    assert "diagrams/overview.svg" not in index


def test_pages_document_objects_fields_rules_triggers_and_findings(messy: Org, found: list[Finding]) -> None:
    pages = render_pages(messy, found, svgs={"overview", "Invoice__c"})
    assert set(pages) == {f"{name}.md" for name in messy.objects} | {"README.md", "findings.md"}
    index = pages["README.md"]
    assert "| [Account](Account.md) | Account | standard | 4 |" in index
    assert "![Entity-relationship diagram](diagrams/overview.svg)" in index
    invoice = pages["Invoice__c.md"]
    assert "> Invoices issued to accounts by the billing system." in invoice
    assert "custom · 2 records · Change Data Capture on" in invoice
    assert "![Entity-relationship diagram](diagrams/Invoice__c.svg)" in invoice
    assert "- [Invoice_Line__c](Invoice_Line__c.md)`.Invoice__c` → here (master-detail, cascade delete)" in invoice
    assert "| Net amount of the invoice. |" in invoice
    assert "**warning** label_collision `Amount__c`: label 'Amount' is also the label of Total_Amount__c" in invoice
    account = pages["Account.md"]
    assert "Gold, Silver or Bronze: decides the support SLA." in account
    assert "| `AccountScoring` | Active | after insert, after update |  |" in account
    assert "| `AccountTrigger` | Active | before insert, after insert, before update, after update | yes |" in account
    shipment = pages["Shipment__c.md"]
    assert "### Shipment_Warehouse_City_Known (active; not evaluable: the function VLOOKUP()" in shipment
    assert "### Shipment_Shipped_Needs_Tracking (active; evaluated by the bridge)" in shipment
    assert "Change Data Capture off" in pages["Contact.md"]
    assert "| error | required_unmapped | [Account](Account.md) | Customer_Tier__c |" in pages["findings.md"]


def test_json_document_for_machines(
    messy: Org, messy_snapshot: OrgSnapshot, found: list[Finding], tmp_path: Path
) -> None:
    result = write_catalog(tmp_path, messy_snapshot, messy, found, fmt="json")
    document = orjson.loads((tmp_path / "catalog.json").read_bytes())
    assert tmp_path / "catalog.json" in result.paths
    objects = {o["name"]: o for o in document["objects"]}
    assert set(objects) == set(messy.objects)
    assert objects["Invoice__c"]["cdc"] is True
    assert {f["name"] for f in objects["Invoice__c"]["fields"]} >= {"Amount__c", "Invoice_Number__c"}
    payments = {"child": "Payment__c", "field": "Invoice__c", "parent": "Invoice__c", "master_detail": True}
    payments |= {"cascade_delete": True, "relationship_name": "Payments__r", "kind": "master-detail"}
    assert payments in document["relationships"]
    assert len(document["findings"]) == len(found)
    assert not list(tmp_path.glob("*.md"))


def test_the_committed_diagram_is_the_messy_orgs(messy: Org) -> None:
    root = Path(__file__).resolve().parents[2]
    svg = (root / "docs" / "catalog-messy-org.svg").read_bytes()
    titles = {el.text for el in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}title")}  # noqa: S314
    assert set(messy.objects) <= titles
    assert svg.count(b"cascade delete") == sum(r.cascade_delete for r in messy.relationships)
    assert "](docs/catalog-messy-org.svg)" in (root / "README.md").read_text()
