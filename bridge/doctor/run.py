"""The doctor's composition: gather Kafka and Salesforce facts side by side, check the deployment's security, and
turn it all into redacted findings.

findings = await diagnose(Settings(), timeout_s=5.0)
print("\\n".join(f.line() for f in findings)); sys.exit(exit_code(findings))
"""

from __future__ import annotations

import asyncio

from bridge.config import Settings
from bridge.doctor.findings import Finding, redact
from bridge.doctor.kafka_checks import kafka_findings
from bridge.doctor.kafka_gather import gather_kafka
from bridge.doctor.salesforce_checks import salesforce_findings
from bridge.doctor.salesforce_gather import ClientFactory, gather_salesforce
from bridge.doctor.security_checks import security_findings
from bridge.doctor.security_gather import gather_security
from bridge.kafka.topics import bridge_topics
from bridge.mediation import TriggerMap
from bridge.runtime.salesforce_roles import salesforce_client

DEFAULT_TIMEOUT_S = 5.0


def changelog_prefix(settings: Settings) -> str:
    """faust names a table's changelog `<app_id>-<table>-changelog`."""
    return f"{settings.processor.app_id}-"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, so no finding can print one."""
    values = [settings.salesforce.client_secret, settings.kafka.sasl_password]
    return [v.get_secret_value() for v in values if v is not None]


async def diagnose(
    settings: Settings,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    trigger_map: TriggerMap | None = None,
    client_factory: ClientFactory = salesforce_client,
) -> list[Finding]:
    """All findings: Kafka, security (ingest, Kafka transport, secret files), Salesforce. Kafka and Salesforce
    each get `timeout_s` per step and run concurrently; the security checks read local files only.

    `trigger_map` names the bypass flags of the org's triggers (default: the packaged map mirroring salesforce/).
    """
    specs = bridge_topics(settings)
    prefix = changelog_prefix(settings)
    kafka, salesforce = await asyncio.gather(
        gather_kafka(settings, [s.name for s in specs], prefix, timeout_s),
        gather_salesforce(settings, timeout_s, trigger_map=trigger_map, client_factory=client_factory),
    )
    findings = [
        *kafka_findings(kafka, specs, prefix),
        *security_findings(gather_security(settings)),
        *salesforce_findings(salesforce, settings.salesforce.auth_flow, settings.governor),
    ]
    return redact(findings, secrets_of(settings))
