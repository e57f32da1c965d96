"""Fixtures for the deployment checks: the pinned tools (from deploy/check/install-tools.sh) and schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "tools"
CHART = ROOT / "helm" / "crm-bridge"
K8S_VERSION = "v1.31.0"


def tool(name: str) -> str:
    """The path of a pinned tool; fails (never skips) when `make test` did not install it."""
    local = TOOLS / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run deploy/check/install-tools.sh (make test does)")
    return found


@pytest.fixture(scope="session")
def k8s_schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Standalone Kubernetes JSON Schemas for kubeconform, built from the kubernetes-validate package.

    Its schemas reference a shared `/api/_definitions.json`; kubeconform wants self-contained files, so the
    definitions are embedded under `$defs` and the references rewritten to point inside the file.
    """
    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"{K8S_VERSION}-local-strict"
    definitions = json.loads((source / "_definitions.json").read_text())
    defs = definitions.get("$defs") or definitions["definitions"]
    out = tmp_path_factory.mktemp("k8s-schemas") / f"{K8S_VERSION}-standalone-strict"
    out.mkdir()
    prefix = '"/api/_definitions.json#/$defs/'
    defs_text = json.dumps(defs).replace(prefix, '"#/$defs/')
    for path in source.glob("*.json"):
        if path.name == "_definitions.json":
            continue
        text = path.read_text().replace(prefix, '"#/$defs/')
        schema = json.loads(text)
        schema["$defs"] = json.loads(defs_text)
        (out / path.name).write_text(json.dumps(schema))
    return out.parent


@pytest.fixture(scope="session")
def compose_schema() -> dict[str, object]:
    """The Compose Specification's JSON Schema, as shipped in the compose-go module docker compose uses."""
    path = TOOLS / "compose-spec.json"
    if not path.exists():
        pytest.fail("compose-spec.json missing: run deploy/check/install-tools.sh (make test does)")
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded
