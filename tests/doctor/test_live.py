"""The doctor against a real broker and the Salesforce emulator over a real socket: the outcomes a user sees.

Salesforce-only tests point Kafka at a closed port (refused at once) and read only the Salesforce findings.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner
from pydantic import SecretStr

from bridge.cli.main import main
from bridge.config import KafkaSettings, ProcessorSettings, SalesforceSettings, Settings, TopicSettings
from bridge.doctor import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Finding, Status, diagnose, exit_code
from bridge.emulator import EmulatorServer, Org, load_profile
from bridge.emulator.mediation import trigger_map as emulator_map
from bridge.emulator.mediation import write_trigger_map as map_file
from bridge.kafka.topics import COMPACTED, bridge_topics
from bridge.mediation import Mediation, load_trigger_map
from bridge.runtime.salesforce_roles import salesforce_client

SECRET = "emulator-client-secret"
TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(Org(load_profile("default"))) as running:
        yield running


@pytest.fixture
def trigger_map_file(server: EmulatorServer, tmp_path: Path) -> Path:
    return map_file(emulator_map(server.org.profile), tmp_path / "emulator-triggers.toml")


@pytest.fixture
async def named_topic(kafka_bootstrap: str) -> AsyncIterator[TopicFactory]:
    """Create topics with exact names (the changelog's name has a fixed suffix); deleted afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int = 1, **config: str) -> str:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config)])
        created.append(name)
        async with asyncio.timeout(10):  # creation is acknowledged before every broker's metadata has it
            while name not in await admin.list_topics():
                await asyncio.sleep(0.05)
        return name

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def deployment(server: EmulatorServer, bootstrap: str, secret: str = SECRET) -> Settings:
    """A deployment of its own: unique topic names and app id, the emulator's integration app."""
    unique = uuid.uuid4().hex[:8]
    topics = TopicSettings(
        realtime=f"doctor.{unique}.realtime",
        bulk=f"doctor.{unique}.bulk",
        dlq=f"doctor.{unique}.dlq",
        results=f"doctor.{unique}.results",
        source_checkpoints=f"doctor.{unique}.checkpoints",
        partitions=2,
    )
    salesforce = SalesforceSettings(
        login_url=server.url,
        auth_flow="client_credentials",
        client_id="emulator-client-id",
        client_secret=SecretStr(secret),
        username=server.org.user().username,
    )
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=topics,
        processor=ProcessorSettings(app_id=f"doctor-{unique}"),
        salesforce=salesforce,
    )


async def create_all(settings: Settings, create: TopicFactory, *, skip: str = "", **overrides: str) -> None:
    """The deployment's topics as `crm-bridge run` and the processor make them (minus `skip`)."""
    for spec in bridge_topics(settings):
        if spec.name != skip:
            await create(spec.name, spec.partitions, **{**spec.config, **overrides.get(spec.name, {})})
    await create(f"{settings.processor.app_id}-dedupe-changelog", settings.topics.partitions, **COMPACTED)


def env_of(settings: Settings) -> dict[str, str | None]:
    sf = settings.salesforce
    return {
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "BRIDGE_TOPICS__REALTIME": settings.topics.realtime,
        "BRIDGE_TOPICS__BULK": settings.topics.bulk,
        "BRIDGE_TOPICS__DLQ": settings.topics.dlq,
        "BRIDGE_TOPICS__RESULTS": settings.topics.results,
        "BRIDGE_TOPICS__SOURCE_CHECKPOINTS": settings.topics.source_checkpoints,
        "BRIDGE_TOPICS__PARTITIONS": str(settings.topics.partitions),
        "BRIDGE_PROCESSOR__APP_ID": settings.processor.app_id,
        "BRIDGE_SALESFORCE__LOGIN_URL": sf.login_url,
        "BRIDGE_SALESFORCE__AUTH_FLOW": sf.auth_flow,
        "BRIDGE_SALESFORCE__CLIENT_ID": sf.client_id,
        "BRIDGE_SALESFORCE__CLIENT_SECRET": sf.client_secret.get_secret_value() if sf.client_secret else None,
        "BRIDGE_SALESFORCE__USERNAME": sf.username,
    }


async def crm_bridge_doctor(settings: Settings, *args: str) -> tuple[int, str]:
    # The CLI runs its own event loop, so it runs in a thread while this loop serves the emulator.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["doctor", *args], env=env_of(settings))
    return result.exit_code, result.output


def by_check(findings: list[Finding], prefix: str) -> list[Finding]:
    return [f for f in findings if f.check.startswith(prefix)]


@pytest.mark.kafka
async def test_healthy_deployment_exits_0(
    server: EmulatorServer, kafka_bootstrap: str, named_topic: TopicFactory, trigger_map_file: Path
) -> None:
    settings = deployment(server, kafka_bootstrap)
    await create_all(settings, named_topic)
    code, output = await crm_bridge_doctor(settings, "--strict", "--map", str(trigger_map_file))
    assert code == EXIT_OK, output
    assert "FAIL" not in output
    assert "WARN" not in output
    assert f"OK    kafka.topic[{settings.topics.source_checkpoints}]" in output
    assert f"Changelog {settings.processor.app_id}-dedupe-changelog is compacted." in output
    assert "API version 62.0 is available." in output
    assert SECRET not in output


@pytest.mark.kafka
async def test_missing_topic_and_uncompacted_checkpoints_fail_with_the_fix(
    server: EmulatorServer, kafka_bootstrap: str, named_topic: TopicFactory, trigger_map_file: Path
) -> None:
    settings = deployment(server, kafka_bootstrap)
    checkpoints = settings.topics.source_checkpoints
    await create_all(settings, named_topic, skip=settings.topics.dlq, **{checkpoints: {"cleanup.policy": "delete"}})
    findings = await diagnose(settings, 5.0, trigger_map=load_trigger_map(trigger_map_file))
    failed = {f.check: f for f in findings if f.status is Status.FAIL}
    assert set(failed) == {f"kafka.topic[{settings.topics.dlq}]", f"kafka.topic[{checkpoints}]"}
    assert f"--create --topic {settings.topics.dlq} --partitions 2" in failed[f"kafka.topic[{settings.topics.dlq}]"].fix
    assert "cleanup.policy=delete" in failed[f"kafka.topic[{checkpoints}]"].message
    assert "--add-config cleanup.policy=compact" in failed[f"kafka.topic[{checkpoints}]"].fix
    assert exit_code(findings) == EXIT_FAILED


async def test_wrong_secret_fails_without_printing_it(server: EmulatorServer) -> None:
    wrong = "wrong-secret-Zq81xV"
    settings = deployment(server, closed_port(), secret=wrong)
    code, output = await crm_bridge_doctor(settings, "--json")
    assert code == EXIT_FAILED
    assert wrong not in output
    document = json.loads(output)
    (auth,) = [f for f in document["findings"] if f["check"] == "salesforce.auth"]
    assert auth["status"] == "FAIL"
    assert "CLIENT_SECRET" in auth["fix"]
    assert [f["check"] for f in document["findings"] if f["check"].startswith("salesforce")] == ["salesforce.auth"]


async def test_bypass_off_is_a_warning(server: EmulatorServer, trigger_map_file: Path) -> None:
    settings = deployment(server, closed_port())
    before = by_check(await diagnose(settings, 5.0, trigger_map=load_trigger_map(trigger_map_file)), "salesforce")
    assert {f.status for f in before} == {Status.OK}

    async with salesforce_client(settings) as sf:
        await Mediation(sf, load_trigger_map(trigger_map_file)).disable(server.org.user().username)
    after = by_check(await diagnose(settings, 5.0, trigger_map=load_trigger_map(trigger_map_file)), "salesforce.bypass")
    assert [f.status for f in after] == [Status.WARN]
    assert "trigger bypass off" in after[0].message
    assert "crm-bridge mediation enable" in after[0].message
    assert exit_code(after) == EXIT_OK
    assert exit_code(after, strict=True) == EXIT_WARNINGS


async def test_budget_nearly_spent_warns_then_spent_fails(server: EmulatorServer, trigger_map_file: Path) -> None:
    settings = deployment(server, closed_port())
    usage = server.org.api_usage
    usage.spend(usage.remaining() - 1_000)  # below the 20 % real-time reserve
    (nearly,) = by_check(
        await diagnose(settings, 5.0, trigger_map=load_trigger_map(trigger_map_file)), "salesforce.budget"
    )
    assert nearly.status is Status.WARN
    assert "below the real-time reserve" in nearly.message

    usage.spend(usage.remaining() - 20)
    findings = await diagnose(settings, 5.0, trigger_map=load_trigger_map(trigger_map_file))
    (spent,) = by_check(findings, "salesforce.budget")
    assert spent.status is Status.FAIL
    assert "The API budget is spent" in spent.message


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_unreachable_kafka_fails_quickly(server: EmulatorServer, kind: str) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept the connection and never answer

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    bootstrap = f"127.0.0.1:{port}" if kind == "silent" else closed_port()
    settings = deployment(server, bootstrap)
    started = time.monotonic()
    async with silent:
        findings = await diagnose(settings, 1.0)
        for writer in held:
            writer.close()
    assert time.monotonic() - started < 10
    (connect,) = by_check(findings, "kafka")
    assert connect.status is Status.FAIL
    assert f"Cannot reach Kafka at {bootstrap}" in connect.message
