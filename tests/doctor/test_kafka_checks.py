"""Kafka checks as pure functions of gathered facts: no broker needed."""

from __future__ import annotations

from bridge.config import Settings, TopicSettings
from bridge.doctor import KafkaFacts, Status, TopicFacts, kafka_findings
from bridge.doctor.findings import Finding
from bridge.kafka.topics import COMPACTED, bridge_topics

SPECS = bridge_topics(Settings(topics=TopicSettings(partitions=3)))
PREFIX = "crm-bridge-processor-"
CHANGELOG = f"{PREFIX}dedupe-changelog"
BOOTSTRAP = "broker:9092"


def healthy_topics(rf: int = 1, min_isr: str = "1") -> dict[str, TopicFacts]:
    topics = {s.name: TopicFacts(s.name, s.partitions, rf, {**s.config, "min.insync.replicas": min_isr}) for s in SPECS}
    topics[CHANGELOG] = TopicFacts(CHANGELOG, 3, rf, {**COMPACTED, "min.insync.replicas": min_isr})
    return topics


def facts(topics: dict[str, TopicFacts], brokers: int = 1) -> KafkaFacts:
    return KafkaFacts(BOOTSTRAP, cluster_id="c-1", broker_count=brokers, topics=topics)


def bad(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status is not Status.OK]


def test_bootstrap_not_set_is_the_only_finding() -> None:
    (finding,) = kafka_findings(KafkaFacts(None), SPECS, PREFIX)
    assert finding.status is Status.FAIL
    assert "BRIDGE_KAFKA__BOOTSTRAP_SERVERS" in finding.fix


def test_unreachable_cluster_is_one_failure_naming_the_address() -> None:
    (finding,) = kafka_findings(KafkaFacts(BOOTSTRAP, error="no answer within 5 s"), SPECS, PREFIX)
    assert finding.status is Status.FAIL
    assert "broker:9092" in finding.message
    assert "no answer within 5 s" in finding.message


def test_healthy_single_broker_cluster_has_only_ok_findings() -> None:
    findings = kafka_findings(facts(healthy_topics()), SPECS, PREFIX)
    assert bad(findings) == []
    assert "cluster c-1, 1 broker(s)" in findings[0].message
    assert {f.check for f in findings} >= {f"kafka.topic[{s.name}]" for s in SPECS}


def test_missing_topic_fails_with_the_create_command() -> None:
    topics = healthy_topics()
    checkpoints = SPECS[-1].name
    del topics[checkpoints]
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert finding.status is Status.FAIL
    assert checkpoints in finding.message
    assert f"--create --topic {checkpoints} --partitions 1" in finding.fix
    assert "--config cleanup.policy=compact" in finding.fix


def test_checkpoint_topic_not_compacted_fails() -> None:
    topics = healthy_topics()
    name = SPECS[-1].name
    topics[name] = topics[name]._replace(configs={"cleanup.policy": "delete"})
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert finding.status is Status.FAIL
    assert name in finding.message
    assert f"--entity-name {name} --add-config cleanup.policy=compact" in finding.fix


def test_compact_and_delete_is_a_warning() -> None:
    topics = healthy_topics()
    topics[CHANGELOG] = topics[CHANGELOG]._replace(configs={"cleanup.policy": "compact,delete"})
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert finding.status is Status.WARN
    assert CHANGELOG in finding.message


def test_changelog_not_compacted_fails_and_a_missing_one_warns() -> None:
    topics = healthy_topics()
    topics[CHANGELOG] = topics[CHANGELOG]._replace(configs={"cleanup.policy": "delete"})
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert (finding.status, finding.check) == (Status.FAIL, f"kafka.topic[{CHANGELOG}]")

    del topics[CHANGELOG]
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert (finding.status, finding.check) == (Status.WARN, "kafka.changelog")
    assert "BRIDGE_PROCESSOR__APP_ID" in finding.fix


def test_other_apps_changelogs_are_not_checked() -> None:
    topics = healthy_topics()
    topics["other-app-dedupe-changelog"] = TopicFacts("other-app-dedupe-changelog", 1, 1, {"cleanup.policy": "delete"})
    assert bad(kafka_findings(facts(topics), SPECS, PREFIX)) == []


def test_low_replication_on_a_multi_broker_cluster_warns_per_topic() -> None:
    findings = bad(kafka_findings(facts(healthy_topics(rf=1), brokers=3), SPECS, PREFIX))
    assert {f.status for f in findings} == {Status.WARN}
    assert len(findings) == len(SPECS) + 1  # every topic and the changelog
    assert all("replication factor 1 on a 3-broker cluster" in f.message for f in findings)


def test_min_insync_replicas_below_two_warns() -> None:
    findings = bad(kafka_findings(facts(healthy_topics(rf=3, min_isr="1"), brokers=3), SPECS, PREFIX))
    assert len(findings) == len(SPECS) + 1
    assert all("min.insync.replicas=1" in f.message and "min.insync.replicas=2" in f.fix for f in findings)
    assert bad(kafka_findings(facts(healthy_topics(rf=3, min_isr="2"), brokers=3), SPECS, PREFIX)) == []


def test_partition_count_different_from_the_configuration_warns() -> None:
    topics = healthy_topics()
    name = SPECS[0].name
    topics[name] = topics[name]._replace(partitions=1)
    (finding,) = bad(kafka_findings(facts(topics), SPECS, PREFIX))
    assert finding.status is Status.WARN
    assert "has 1 partition(s); the configuration says 3" in finding.message


def test_topics_not_describable_fail_once() -> None:
    unreadable = KafkaFacts(BOOTSTRAP, cluster_id="c", broker_count=1, topics_error="TopicAuthorizationFailed")
    findings = kafka_findings(unreadable, SPECS, PREFIX)
    assert [f.status for f in findings] == [Status.OK, Status.FAIL]
    assert "Describe" in findings[1].fix
