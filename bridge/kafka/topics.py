"""The bridge's topics and their configuration, and creating the missing ones at start-up.

Write topics are partitioned by `(sobject, external id)` so one consumer owns a key; the source's checkpoint
topic is compacted (only the newest checkpoint per channel matters), as are changelog topics.

Every role ensures the topics it reads and writes before its first consumer or producer touches them
(`processor_topics`, `sink_topics`, `ingest_topics`; the source creates its `crm.cdc.*` topics as channels
first deliver): with the broker default `auto.create.topics.enable=true`, a client's first metadata request
would otherwise create them with the broker's `num.partitions` and replication. A principal without the ACL
to create a missing topic gets a `ConfigError` naming the `kafka-topics.sh` line that creates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from bridge.config import KafkaSettings, Settings
from bridge.errors import ConfigError, KafkaUnavailable

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"}


class TopicSpec(NamedTuple):
    """A topic the bridge needs: name, partition count, replication and configs."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def bridge_topics(settings: Settings) -> list[TopicSpec]:
    """The fixed topics of a deployment (domain and CDC topics are named by their systems and objects)."""
    t = settings.topics
    rf = t.replication_factor
    return [
        TopicSpec(t.realtime, t.partitions, rf, {}),
        TopicSpec(t.bulk, t.partitions, rf, {}),
        TopicSpec(t.dlq, t.partitions, rf, {}),
        TopicSpec(t.results, t.partitions, rf, {}),
        TopicSpec(t.source_checkpoints, 1, rf, dict(COMPACTED)),
    ]


def plain_topic(settings: Settings, name: str) -> TopicSpec:
    """A topic with the deployment's partitions and replication and the broker's default configs."""
    return TopicSpec(name, settings.topics.partitions, settings.topics.replication_factor, {})


def _named(settings: Settings, *names: str) -> list[TopicSpec]:
    by_name = {spec.name: spec for spec in bridge_topics(settings)}
    return [by_name[name] for name in names]


def processor_topics(settings: Settings, source_topics: Iterable[str]) -> list[TopicSpec]:
    """What a processor worker reads (the domain topics) and writes (the write topics, the DLQ).

    Its dedupe table's changelog is declared by faust itself (an internal topic, compacted)."""
    t = settings.topics
    return [
        *(plain_topic(settings, n) for n in sorted(set(source_topics))),
        *_named(settings, t.realtime, t.bulk, t.dlq),
    ]


def sink_topics(settings: Settings) -> list[TopicSpec]:
    """What a sink worker reads (the write topics) and writes (results, DLQ)."""
    t = settings.topics
    return _named(settings, t.realtime, t.bulk, t.results, t.dlq)


def ingest_topics(settings: Settings, domain_topics: Iterable[str]) -> list[TopicSpec]:
    """What the ingest writes: the domain topics of its event types (a refused event is answered, not stored)."""
    return [plain_topic(settings, n) for n in sorted(set(domain_topics))]


def create_command(spec: TopicSpec, bootstrap_servers: str) -> str:
    """The `kafka-topics.sh` line an operator with the ACL runs to create `spec`."""
    configs = "".join(f" --config {key}={value}" for key, value in sorted(spec.config.items()))
    return (
        f"kafka-topics.sh --bootstrap-server {bootstrap_servers} --create --if-not-exists --topic {spec.name}"
        f" --partitions {spec.partitions} --replication-factor {spec.replication_factor}{configs}"
    )


class TopicsNotAuthorized(ConfigError):
    """The principal may not create topics the role needs: they must be created by someone who may."""

    def __init__(self, specs: Sequence[TopicSpec], bootstrap_servers: str) -> None:
        self.topics = tuple(spec.name for spec in specs)
        lines = "\n".join(f"  {create_command(spec, bootstrap_servers)}" for spec in specs)
        super().__init__(
            f"not allowed to create the missing topic(s) {', '.join(self.topics)} (no CREATE ACL on the cluster or"
            f" the topics); create them with the role's partitions, replication and configs, then start again:\n{lines}"
        )


async def ensure_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing topics are left as they are."""
    if not kafka.bootstrap_servers:
        raise ConfigError("kafka.bootstrap_servers is not set (BRIDGE_KAFKA__BOOTSTRAP_SERVERS)")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, client_id=f"{kafka.client_id}-admin")
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if s.name not in existing]
        if wanted:
            new = [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in wanted]
            try:
                response = await admin.create_topics(new, timeout_ms=30_000)
            except _NOT_AUTHORIZED as exc:
                raise TopicsNotAuthorized(wanted, kafka.bootstrap_servers) from exc
            _raise_topic_errors(response.topic_errors, wanted, kafka.bootstrap_servers)
        return [s.name for s in wanted]
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot create topics: {exc}") from exc
    finally:
        await admin.close()


_NOT_AUTHORIZED = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)


def _raise_topic_errors(
    topic_errors: Iterable[tuple[object, ...]], wanted: Sequence[TopicSpec], bootstrap_servers: str
) -> None:
    """Raise for the first failed topic; topics refused for want of an ACL are named together, with their lines."""
    refused: list[str] = []
    for name, code, *message in topic_errors:
        error = for_code(int(str(code)))
        if int(str(code)) == 0 or error is TopicAlreadyExistsError:
            continue  # another worker may have created the topic between our listing and our request
        if issubclass(error, _NOT_AUTHORIZED):
            refused.append(str(name))
            continue
        raise KafkaUnavailable(f"cannot create topic {name}: {error.__name__} {message}")
    if refused:
        raise TopicsNotAuthorized([spec for spec in wanted if spec.name in refused], bootstrap_servers)
