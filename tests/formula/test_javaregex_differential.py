"""REGEX() judged by the bridge and by `java.util.regex` on this machine's JDK: every verdict must agree.

The corpus (tests/formula/regex_corpus.py) holds patterns that validation rules use and texts in many scripts;
`java/RegexJudge.java` runs `Pattern.matches` on each pair (launched as a single-file program, no build step).
A pattern Java refuses must be refused by the bridge too (`NotEvaluable`), never judged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bridge.formula import NotEvaluable
from bridge.formula.javaregex import compile_java
from tests.formula.regex_corpus import PATTERNS, TEXTS

_JUDGE = Path(__file__).parent / "java" / "RegexJudge.java"
_JAVA_SAYS = {"1": "matches", "0": "does not match", "X": "fails while matching"}


def _encode(kind: str, text: str) -> str:
    return f"{kind} {' '.join(f'{ord(c):x}' for c in text)}"


def java_verdicts(patterns: tuple[str, ...], texts: tuple[str, ...]) -> list[str]:
    """One line per pattern: "E <reason>" when Java refuses it, else a 0/1 per text (X: the JDK failed matching)."""
    lines = [_encode("P", p) for p in patterns] + [_encode("T", t) for t in texts]
    done = subprocess.run(
        ["java", str(_JUDGE)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
        check=True,
    )
    verdicts = done.stdout.splitlines()
    assert len(verdicts) == len(patterns), done.stderr
    return verdicts


def bridge_verdict(pattern: str, texts: tuple[str, ...]) -> str:
    try:
        compiled = compile_java(pattern)
    except NotEvaluable as exc:
        return f"N {exc}"
    return "".join("1" if compiled.fullmatch(text) else "0" for text in texts)


def disagreements(patterns: tuple[str, ...], texts: tuple[str, ...]) -> tuple[list[str], int]:
    """Human-readable disagreements, and the number of (pattern, text) cases Java judged."""
    found: list[str] = []
    judged = 0
    for pattern, java in zip(patterns, java_verdicts(patterns, texts), strict=True):
        ours = bridge_verdict(pattern, texts)
        if java.startswith("E"):
            if not ours.startswith("N"):
                found.append(f"{pattern!r}: Java refuses it ({java[2:]}) but the bridge judges it")
            continue
        judged += len(texts)
        if ours.startswith("N"):
            found.append(f"{pattern!r}: not evaluable by the bridge ({ours[2:]})")
            continue
        found += [
            f"{pattern!r} on {text!r}: Java {_JAVA_SAYS[j]}, the bridge {'matches' if o == '1' else 'does not match'}"
            for text, j, o in zip(texts, java, ours, strict=True)
            if j != o
        ]
    return found, judged


@pytest.mark.timeout(120)
def test_bridge_judges_every_case_as_java_does() -> None:
    found, judged = disagreements(PATTERNS, TEXTS)
    assert len(PATTERNS) >= 40
    assert judged >= 1000
    assert not found, f"{len(found)} disagreements with java.util.regex:\n" + "\n".join(found)
