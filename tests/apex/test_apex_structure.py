"""The SFDX project is consistent: meta files, the Hierarchy setting and its flags, and the bridge's trigger map."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bridge.mediation import load_trigger_map

ROOT = Path(__file__).resolve().parents[2] / "salesforce"
SOURCE = ROOT / "force-app" / "main" / "default"
SETTING = SOURCE / "objects" / "Integration_Bypass__c"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
API_VERSION = "62.0"

_GROUP = re.compile(r"String\s+bypassGroup\(\)\s*\{\s*return\s+'(\w+)'\s*;")
_TRIGGER = re.compile(r"trigger\s+(\w+)\s+on\s+(\w+)\s*\(")
_HANDLER = re.compile(r"new\s+(\w+Handler)\s*\(\s*\)")
_FLAG_LITERAL = re.compile(r"'(\w+__c)'")


def apex_sources() -> list[Path]:
    return sorted([*SOURCE.glob("classes/*.cls"), *SOURCE.glob("triggers/*.trigger")])


def meta(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - our own files


def text(root: ET.Element, tag: str) -> str | None:
    found = root.find(f"md:{tag}", NS)
    return None if found is None else found.text


def checkbox_fields() -> set[str]:
    fields = set()
    for path in SETTING.glob("fields/*.field-meta.xml"):
        root = meta(path)
        assert text(root, "fullName") == path.name.removesuffix(".field-meta.xml")
        if text(root, "type") == "Checkbox":
            fields.add(path.name.removesuffix(".field-meta.xml"))
    return fields


def handler_flag(handler: str) -> str | None:
    source = (SOURCE / "classes" / f"{handler}.cls").read_text(encoding="utf-8")
    assert re.search(rf"class\s+{handler}\s+extends\s+TriggerHandler\b", source), f"{handler} is not a TriggerHandler"
    found = _GROUP.search(source)
    return f"{found.group(1)}__c" if found else None


def test_project_file_points_at_the_source() -> None:
    project = json.loads((ROOT / "sfdx-project.json").read_text(encoding="utf-8"))
    assert project["sourceApiVersion"] == API_VERSION
    assert [d["path"] for d in project["packageDirectories"]] == ["force-app"]


@pytest.mark.parametrize("source", apex_sources(), ids=lambda p: p.name)
def test_every_apex_file_has_its_meta_xml(source: Path) -> None:
    root = meta(source.with_name(source.name + "-meta.xml"))
    expected_tag = "ApexClass" if source.suffix == ".cls" else "ApexTrigger"
    assert root.tag == f"{{{NS['md']}}}{expected_tag}"
    assert text(root, "apiVersion") == API_VERSION
    assert text(root, "status") == "Active"


def test_the_setting_is_a_hierarchy_custom_setting() -> None:
    root = meta(SETTING / "Integration_Bypass__c.object-meta.xml")
    assert text(root, "customSettingsType") == "Hierarchy"


def test_every_flag_the_apex_reads_is_a_checkbox_field() -> None:
    handlers = [p.stem for p in SOURCE.glob("classes/*Handler.cls") if p.stem != "TriggerHandler"]
    read = {flag for flag in map(handler_flag, handlers) if flag}
    read.add("All__c")  # TriggerHandler.isBypassed reads setting.All__c
    framework = (SOURCE / "classes" / "TriggerHandler.cls").read_text(encoding="utf-8")
    assert "Integration_Bypass__c.getInstance()" in framework
    assert "setting.All__c" in framework
    tests = "".join(p.read_text(encoding="utf-8") for p in SOURCE.glob("classes/*Test*.cls"))
    read |= set(_FLAG_LITERAL.findall(tests)) - {"Total_Opportunity_Amount__c"}
    assert read == checkbox_fields() == {"All__c", "Enrichment__c", "Notifications__c", "Rollups__c"}


def test_the_bridges_trigger_map_mirrors_the_apex() -> None:
    trigger_map = load_trigger_map()
    assert trigger_map.setting == SETTING.name
    assert set(trigger_map.flags) == checkbox_fields()
    found = {}
    for path in SOURCE.glob("triggers/*.trigger"):
        source = path.read_text(encoding="utf-8")
        match = _TRIGGER.search(source)
        assert match, f"{path.name} does not declare a trigger"
        flags = [handler_flag(h) for h in _HANDLER.findall(source)]
        found[match.group(1)] = (match.group(2), {f for f in flags if f}, None in flags)
    mapped = {t.trigger: (t.sobject, set(t.flags), t.essential) for t in trigger_map.triggers.values()}
    assert mapped == found
