"""docker-compose.yml follows the Compose Specification and wires every role to Prometheus and Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.deploy.conftest import ROOT

ROLES = {"processor", "sink", "source", "ingest"}


def load_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_satisfies_the_compose_specification(compose_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load_compose())]
    assert errors == []


def test_schema_check_really_rejects_a_broken_file(compose_schema: dict[str, Any]) -> None:
    broken = load_compose()
    broken["services"]["sink"]["restart"] = ["always"]
    broken["services"]["kafka"]["healthcheck"]["interval"] = 10
    errors = list(jsonschema.Draft202012Validator(compose_schema).iter_errors(broken))
    assert len(errors) >= 2


def test_every_role_runs_and_is_scraped() -> None:
    compose = load_compose()
    services = compose["services"]
    assert {"kafka", "emulator", "prometheus", "grafana"} | ROLES <= set(services)
    for role in ROLES:
        assert services[role]["command"] == ["run", role]
        assert services[role]["environment"]["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{role}:9108" for role in ROLES}


def test_mounted_files_exist() -> None:
    for service in load_compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert Path(ROOT / "Dockerfile").exists()
