"""The shape the house keeps (STYLE.md): configuration flows one way, from the CLI's environment into `Settings`
and down as values, so only the CLI's entry points write `os.environ`."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bridge"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_pb" not in p.parts)


def _writes_environ(node: ast.AST) -> bool:
    """`os.environ[...] = `, `del os.environ[...]`, or a mutating method of `os.environ`, or `os.putenv`."""

    def is_environ(target: ast.AST) -> bool:
        return isinstance(target, ast.Attribute) and target.attr == "environ" and isinstance(target.value, ast.Name)

    if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        return any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        mutators = {"update", "clear", "pop", "popitem", "setdefault"}
        if node.func.attr in mutators and is_environ(node.func.value):
            return True
        return node.func.attr in {"putenv", "unsetenv"} and isinstance(node.func.value, ast.Name)
    return False


def test_only_the_cli_writes_the_process_environment() -> None:
    writers = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in _modules()
        if "cli" not in path.relative_to(PACKAGE).parts[:1]
        for node in ast.walk(ast.parse(path.read_text()))
        if _writes_environ(node)
    ]
    assert writers == []


def test_the_environment_check_finds_a_writer() -> None:
    tree = ast.parse("import os\nos.environ['X'] = '1'\nos.environ.update(a='b')\ndel os.environ['X']\n")
    assert sum(_writes_environ(node) for node in ast.walk(tree)) == 3
