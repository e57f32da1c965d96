"""The Apex under salesforce/ parses with a real Apex parser (prettier-plugin-apex), and a broken class is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "check" / "check-apex.sh"
BROKEN = """\
public with sharing class Broken {
    public void run( {
        Integer depth = 0
    }
}
"""

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed: cannot run the Apex parser")


def check_apex(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_class_and_trigger_parses_and_is_formatted() -> None:
    result = check_apex()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All matched files use Prettier code style" in result.stdout


def test_a_syntax_error_is_refused_with_the_parsers_message(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.cls"
    broken.write_text(BROKEN, encoding="utf-8")
    result = check_apex(broken)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Broken.cls" in result.stderr
    assert "Missing ')'" in result.stderr


def test_the_same_class_fixed_is_accepted(tmp_path: Path) -> None:
    fixed = tmp_path / "Fixed.cls"
    fixed.write_text(BROKEN.replace("run( {", "run() {").replace("= 0\n", "= 0;\n"), encoding="utf-8")
    result = check_apex(fixed)
    assert result.returncode == 0, result.stdout + result.stderr
