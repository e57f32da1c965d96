"""`crm-bridge doctor`: pure checks that turn gathered facts into plain-words findings, and the gatherers' I/O."""

from bridge.doctor.facts import ApiBudget, KafkaFacts, SalesforceFacts, TopicFacts
from bridge.doctor.findings import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Finding, Status, exit_code, redact
from bridge.doctor.kafka_checks import kafka_findings
from bridge.doctor.run import DEFAULT_TIMEOUT_S, diagnose
from bridge.doctor.salesforce_checks import assess_budget, salesforce_findings

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_WARNINGS",
    "ApiBudget",
    "Finding",
    "KafkaFacts",
    "SalesforceFacts",
    "Status",
    "TopicFacts",
    "assess_budget",
    "diagnose",
    "exit_code",
    "kafka_findings",
    "redact",
    "salesforce_findings",
]
