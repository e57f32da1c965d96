"""`crm-bridge doctor` without a broker or an org: invalid settings, a bad trigger map, secrets echoed by a server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
from click.testing import CliRunner
from pydantic import SecretStr

from bridge.cli.main import main
from bridge.config import KafkaSettings, SalesforceSettings, Settings
from bridge.doctor import EXIT_FAILED, Status, diagnose
from bridge.salesforce import SalesforceClient, auth_from_settings

SECRET = "s3cret-echoed-by-the-server"


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_invalid_settings_are_a_failure_that_does_not_echo_the_input() -> None:
    env = {"BRIDGE_SALESFORCE__AUTH_FLOW": "hunter2-flow", "BRIDGE_TOPICS__PARTITIONS": "0"}
    result = CliRunner().invoke(main, ["doctor", "--json"], env=env)
    assert result.exit_code == EXIT_FAILED, result.output
    (finding,) = json.loads(result.output)["findings"]
    assert finding["check"] == "settings"
    assert "salesforce.auth_flow" in finding["message"]
    assert "topics.partitions" in finding["message"]
    assert "hunter2-flow" not in result.output


def test_unreadable_trigger_map_is_a_failure() -> None:
    result = CliRunner().invoke(main, ["doctor", "--map", "/etc/hostname"], env={})
    assert result.exit_code == EXIT_FAILED
    assert result.output.startswith("FAIL  salesforce.bypass  Cannot read the trigger map /etc/hostname")


async def test_a_secret_echoed_in_an_error_is_redacted() -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        # A misbehaving proxy or server that repeats what it was sent.
        return httpx.Response(400, json={"error": "invalid_client", "error_description": request.content.decode()})

    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=closed_port()),
        salesforce=SalesforceSettings(
            login_url="https://login.example.com",
            auth_flow="client_credentials",
            client_id="app",
            client_secret=SecretStr(SECRET),
        ),
    )

    def factory(s: Settings) -> SalesforceClient:
        return SalesforceClient(
            s.salesforce, auth_from_settings(s.salesforce), transport=httpx.MockTransport(token_endpoint)
        )

    findings = await diagnose(settings, 2.0, client_factory=factory)
    (auth,) = [f for f in findings if f.check == "salesforce.auth"]
    assert auth.status is Status.FAIL
    assert "invalid_client" in auth.message
    assert "client_secret=***" in auth.message
    assert SECRET not in " ".join(f.line() for f in findings)


def test_the_insecure_settings_are_reported_by_the_command(tmp_path: Path) -> None:
    key = tmp_path / "integration.key"
    key.write_text("-----BEGIN PRIVATE KEY-----")
    key.chmod(0o644)
    env = {
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": closed_port(),
        "BRIDGE_INGEST__AUTH": "none",
        "BRIDGE_INGEST__HOST": "0.0.0.0",
        "BRIDGE_SALESFORCE__PRIVATE_KEY_FILE": str(key),
    }
    result = CliRunner().invoke(main, ["doctor", "--json", "--timeout", "1"], env=env)
    assert result.exit_code == EXIT_FAILED, result.output
    by_check = {f["check"]: f["status"] for f in json.loads(result.output)["findings"]}
    assert by_check["ingest.auth"] == "FAIL"
    assert by_check["ingest.tls"] == "WARN"
    assert by_check["secrets[salesforce.private_key_file]"] == "WARN"
    assert by_check["security.kafka"] == "OK"  # a broker on this machine needs neither TLS nor SASL
