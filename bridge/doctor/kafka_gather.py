"""Reads the Kafka facts the doctor checks through aiokafka's admin client, within a deadline, never raising."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from bridge.config import Settings
from bridge.doctor.facts import KafkaFacts, TopicFacts, describe_error
from bridge.errors import BridgeError
from bridge.kafka.producer import producer_config

_SECURITY_KEYS = ("security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
_FAILURES = (KafkaError, BridgeError, OSError, TimeoutError)


def admin_client(settings: Settings, timeout_s: float) -> AIOKafkaAdminClient:
    """An admin client for the deployment's cluster, with the bridge's security settings (not yet started)."""
    config = producer_config(settings.kafka, settings.publisher)
    security: dict[str, Any] = {key: config[key] for key in _SECURITY_KEYS if key in config}
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap_servers or "",
        client_id=f"{settings.kafka.client_id}-doctor",
        request_timeout_ms=max(1, int(timeout_s * 1000)),
        **security,
    )


async def gather_kafka(
    settings: Settings, wanted: Iterable[str], changelog_prefix: str, timeout_s: float
) -> KafkaFacts:
    """The cluster's id, brokers and the shape and configs of the `wanted` topics and the changelog topics."""
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        return KafkaFacts(bootstrap_servers=None)
    try:
        admin = admin_client(settings, timeout_s)
    except BridgeError as exc:
        return KafkaFacts(bootstrap, error=describe_error(exc, timeout_s))
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await admin.start()
                cluster = await admin.describe_cluster()
        except _FAILURES as exc:
            return KafkaFacts(bootstrap, error=describe_error(exc, timeout_s))
        cluster_id = str(cluster.get("cluster_id"))
        brokers = len(cluster.get("brokers", []))
        try:
            async with asyncio.timeout(timeout_s):
                topics = await _topics(admin, set(wanted), changelog_prefix)
        except _FAILURES as exc:
            return KafkaFacts(bootstrap, None, cluster_id, brokers, topics_error=describe_error(exc, timeout_s))
        return KafkaFacts(bootstrap, None, cluster_id, brokers, topics)
    finally:
        await admin.close()


async def _topics(admin: AIOKafkaAdminClient, wanted: set[str], changelog_prefix: str) -> dict[str, TopicFacts]:
    described = {t["topic"]: t for t in await admin.describe_topics() if t.get("error_code", 0) == 0}
    names = sorted(n for n in described if n in wanted or (n.startswith(changelog_prefix) and n.endswith("-changelog")))
    configs: dict[str, dict[str, str]] = {}
    if names:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        configs = _configs(responses)
    return {n: _topic(described[n], configs.get(n, {})) for n in names}


def _topic(described: dict[str, Any], configs: dict[str, str]) -> TopicFacts:
    partitions = described.get("partitions", [])
    replication = min((len(p.get("replicas", [])) for p in partitions), default=0)
    return TopicFacts(str(described["topic"]), len(partitions), replication, configs)


def _configs(responses: Iterable[Any]) -> dict[str, dict[str, str]]:
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object().get("resources", []):
            if resource.get("error_code", 0) != 0:
                continue
            entries = resource.get("config_entries", [])
            configs[str(resource["resource_name"])] = {
                str(e["config_names"]): str(e["config_value"]) for e in entries if e.get("config_value") is not None
            }
    return configs
