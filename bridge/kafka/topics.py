"""The bridge's topics and their configuration, and creating the missing ones at start-up.

Write topics are partitioned by `(sobject, external id)` so one consumer owns a key; the source's checkpoint
topic is compacted (only the newest checkpoint per channel matters), as are changelog topics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

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
            response = await admin.create_topics(new, timeout_ms=30_000)
            _raise_topic_errors(response.topic_errors)
        return [s.name for s in wanted]
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot create topics: {exc}") from exc
    finally:
        await admin.close()


def _raise_topic_errors(topic_errors: Iterable[tuple[object, ...]]) -> None:
    for name, code, *message in topic_errors:
        error = for_code(int(str(code)))
        # Another worker may have created the topic between our listing and our request.
        if int(str(code)) != 0 and error is not TopicAlreadyExistsError:
            raise KafkaUnavailable(f"cannot create topic {name}: {error.__name__} {message}")
