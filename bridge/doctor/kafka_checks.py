"""Pure checks of the Kafka side: connectivity, the bridge's topics (shape, replication), compaction of state topics.

findings = kafka_findings(facts, bridge_topics(settings), changelog_prefix="crm-bridge-processor-")
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.doctor.facts import KafkaFacts, TopicFacts
from bridge.doctor.findings import Finding, fail, ok, warn
from bridge.kafka.topics import TopicSpec

SAFE_REPLICATION = 3
SAFE_MIN_INSYNC = 2
CHANGELOG_SUFFIX = "-changelog"


def kafka_findings(facts: KafkaFacts, specs: Sequence[TopicSpec], changelog_prefix: str) -> list[Finding]:
    """Every Kafka finding; when the cluster cannot be reached that is the only one."""
    if not facts.bootstrap_servers:
        return [
            fail(
                "kafka.connect",
                "kafka.bootstrap_servers is not set.",
                "set BRIDGE_KAFKA__BOOTSTRAP_SERVERS=host:9092 (comma-separated for several brokers).",
            )
        ]
    if facts.error is not None:
        return [_unreachable(facts.bootstrap_servers, facts.error)]
    findings = [
        ok(
            "kafka.connect",
            f"Connected to {facts.bootstrap_servers}: cluster {facts.cluster_id}, {facts.broker_count} broker(s).",
        )
    ]
    if facts.topics_error is not None:
        findings.append(fail("kafka.topics", f"Cannot describe the topics: {facts.topics_error}.", _acl_fix(facts)))
        return findings
    for spec in specs:
        findings.extend(topic_findings(spec, facts))
    findings.extend(changelog_findings(facts, changelog_prefix))
    return findings


def _unreachable(bootstrap_servers: str, error: str) -> Finding:
    return fail(
        "kafka.connect",
        f"Cannot reach Kafka at {bootstrap_servers}: {error}.",
        "check that the brokers run and listen on that address (advertised.listeners), that no firewall is in "
        "the way, and that kafka.security_protocol and the SASL settings match the listener.",
    )


def _acl_fix(facts: KafkaFacts) -> str:
    return f"grant the bridge's principal Describe and DescribeConfigs on the topics of {facts.bootstrap_servers}."


def topic_findings(spec: TopicSpec, facts: KafkaFacts) -> list[Finding]:
    """Findings about one of the bridge's topics: missing, shape, replication, compaction."""
    topic = facts.topics.get(spec.name)
    if topic is None:
        return [fail(f"kafka.topic[{spec.name}]", f"Topic {spec.name} is missing.", _create_fix(spec, facts))]
    findings = [*_shape_findings(spec, topic), *_replication_findings(topic, facts)]
    if spec.config.get("cleanup.policy") == "compact":
        findings.extend(_compaction_findings(topic, facts, "the source's replay-id checkpoints"))
    if not findings:
        shape = f"{topic.partitions} partition(s), replication factor {topic.replication_factor}"
        findings.append(ok(f"kafka.topic[{spec.name}]", f"Topic {spec.name} exists: {shape}."))
    return findings


def _create_fix(spec: TopicSpec, facts: KafkaFacts) -> str:
    configs = "".join(f" --config {k}={v}" for k, v in sorted(spec.config.items()))
    return (
        f"create it: kafka-topics.sh --bootstrap-server {facts.bootstrap_servers} --create --topic {spec.name} "
        f"--partitions {spec.partitions} --replication-factor {spec.replication_factor}{configs}"
    )


def _shape_findings(spec: TopicSpec, topic: TopicFacts) -> list[Finding]:
    check = f"kafka.topic[{spec.name}]"
    findings = []
    if topic.partitions != spec.partitions:
        findings.append(
            warn(
                check,
                f"Topic {spec.name} has {topic.partitions} partition(s); the configuration says {spec.partitions}.",
                "set BRIDGE_TOPICS__PARTITIONS to match, or add partitions with kafka-topics.sh --alter "
                "(partitions can only grow, and growing them moves keys to other partitions).",
            )
        )
    if topic.replication_factor < spec.replication_factor:
        findings.append(
            warn(
                check,
                f"Topic {spec.name} has replication factor {topic.replication_factor}; the configuration says "
                f"{spec.replication_factor}.",
                "raise it with kafka-reassign-partitions.sh, or lower BRIDGE_TOPICS__REPLICATION_FACTOR.",
            )
        )
    return findings


def _replication_findings(topic: TopicFacts, facts: KafkaFacts) -> list[Finding]:
    if facts.broker_count < 2:
        return []  # a single-broker (development) cluster cannot replicate anything
    check = f"kafka.topic[{topic.name}]"
    findings = []
    wanted_rf = min(SAFE_REPLICATION, facts.broker_count)
    if topic.replication_factor < wanted_rf:
        findings.append(
            warn(
                check,
                f"Topic {topic.name} has replication factor {topic.replication_factor} on a "
                f"{facts.broker_count}-broker cluster: losing one broker can lose or block its data.",
                f"raise it to {wanted_rf} with kafka-reassign-partitions.sh "
                f"(and set BRIDGE_TOPICS__REPLICATION_FACTOR={wanted_rf} for new topics).",
            )
        )
    min_isr = _int(topic.configs.get("min.insync.replicas"))
    if min_isr is not None and min_isr < SAFE_MIN_INSYNC and topic.replication_factor > 1:
        findings.append(
            warn(
                check,
                f"Topic {topic.name} has min.insync.replicas={min_isr}: an acknowledged write may live on one "
                "broker only.",
                f"kafka-configs.sh --bootstrap-server {facts.bootstrap_servers} --alter --entity-type topics "
                f"--entity-name {topic.name} --add-config min.insync.replicas=2",
            )
        )
    return findings


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _compaction_findings(topic: TopicFacts, facts: KafkaFacts, holds: str) -> list[Finding]:
    check = f"kafka.topic[{topic.name}]"
    policy = topic.configs.get("cleanup.policy", "delete")
    fix = (
        f"kafka-configs.sh --bootstrap-server {facts.bootstrap_servers} --alter --entity-type topics "
        f"--entity-name {topic.name} --add-config cleanup.policy=compact"
    )
    policies = {p.strip() for p in policy.split(",")}
    if "compact" not in policies:
        message = (
            f"Topic {topic.name} holds {holds} but is not compacted (cleanup.policy={policy}): retention deletes "
            "the latest state and a restart loses it."
        )
        return [fail(check, message, fix)]
    if "delete" in policies:
        message = (
            f"Topic {topic.name} holds {holds} and is compacted but also deleted by retention "
            f"(cleanup.policy={policy}): state older than retention.ms is lost."
        )
        return [warn(check, message, fix)]
    return []


def changelog_findings(facts: KafkaFacts, prefix: str) -> list[Finding]:
    """The processor's faust changelog topics (`<app_id>-<table>-changelog`) must be compacted."""
    names = sorted(n for n in facts.topics if n.startswith(prefix) and n.endswith(CHANGELOG_SUFFIX))
    if not names:
        return [
            warn(
                "kafka.changelog",
                f"No processor changelog topic ({prefix}<table>{CHANGELOG_SUFFIX}) exists yet.",
                "start the processor once (it creates its compacted changelog), or check BRIDGE_PROCESSOR__APP_ID.",
            )
        ]
    findings: list[Finding] = []
    for name in names:
        topic = facts.topics[name]
        problems = [
            *_compaction_findings(topic, facts, "the processor's dedupe state"),
            *_replication_findings(topic, facts),
        ]
        findings.extend(problems or [ok(f"kafka.topic[{name}]", f"Changelog {name} is compacted.")])
    return findings
