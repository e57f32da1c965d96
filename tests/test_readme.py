"""The README stays true: its two commands, its reference block, its command list and its links."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.cli.main import COMMANDS
from bridge.reference import END, START, reference_block, synced_readme

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_two_set_up_commands_are_there_and_ci_runs_the_test_one() -> None:
    assert "    make demo " in README
    assert "    make test " in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_the_configuration_and_metrics_reference_is_current() -> None:
    block = README.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == reference_block(), "the README's reference is stale: run `make readme`"
    assert synced_readme(README) == README


def test_every_command_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?<!install )crm-bridge ([a-z]+)", README))  # not `helm install crm-bridge helm/...`
    assert named, "the README names no command"
    assert named <= set(COMMANDS), f"unknown commands in the README: {named - set(COMMANDS)}"


def test_every_relative_link_points_at_a_file() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
