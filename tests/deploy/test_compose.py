"""docker-compose.yml follows the Compose Specification and wires every role to Prometheus and Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.config import IngestSettings
from bridge.ingest.auth import Authenticator
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


def test_the_ingest_starts_with_a_generated_token_file_mounted_read_only() -> None:
    services = load_compose()["services"]
    init, ingest = services["ingest-tokens"], services["ingest"]
    path = ingest["environment"]["BRIDGE_INGEST__TOKENS_FILE"]
    assert "BRIDGE_INGEST__AUTH" not in ingest["environment"]  # authentication stays on
    assert ingest["ports"] == ["127.0.0.1:8080:8080"]  # plain HTTP stays on this machine
    assert ingest["depends_on"]["ingest-tokens"] == {"condition": "service_completed_successfully"}
    assert {"kafka", "emulator"} <= set(ingest["depends_on"])
    volume = next(v for v in ingest["volumes"] if v.startswith("ingest-tokens:"))
    assert volume.endswith(":ro")
    assert path.startswith(volume.split(":")[1] + "/")
    assert init["command"][:4] == ["ingest", "token", "add", "demo"]
    assert init["command"][init["command"].index("--file") + 1] == path
    assert "--exist-ok" in init["command"]
    assert any(v.startswith("ingest-tokens:") and not v.endswith(":ro") for v in init["volumes"])
    assert "ingest-tokens" in load_compose()["volumes"]
    assert "mkdir -p /var/lib/crm-bridge/ingest" in (ROOT / "Dockerfile").read_text()


def test_the_init_command_prints_a_token_on_its_first_run_only(tmp_path: Path) -> None:
    init = load_compose()["services"]["ingest-tokens"]["command"]
    args = list(init)
    args[args.index("--file") + 1] = str(tmp_path / "tokens.json")
    first = CliRunner().invoke(main, args)
    again = CliRunner().invoke(main, args)
    assert first.exit_code == again.exit_code == 0, first.output
    assert first.stdout.startswith("crmb_")
    assert again.stdout == ""
    token = first.stdout.strip()
    identity = Authenticator(tmp_path / "tokens.json", IngestSettings()).authenticate(f"Bearer {token}", None)
    assert identity is not None
    assert identity.grants.refusal(source="erp://acme", type="com.acme.crm.customer.upserted") is None
