"""Pure checks of the deployment's security: the ingest's authentication and TLS, Kafka's, the secret files' modes.

findings = security_findings(gather_security(settings))
"""

from __future__ import annotations

import ipaddress

from bridge.doctor.facts import IngestFacts, SecretFile, SecurityFacts, TokenFileFacts
from bridge.doctor.findings import Finding, fail, ok, warn

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_HOW_TO_ADD = "crm-bridge ingest token add <system> --source '<source>' --type '<type pattern>' --file <tokens.json>"


def is_loopback(host: str) -> bool:
    """`host` (a name or an address, IPv6 with or without brackets) reaches this machine only."""
    name = host.strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hosts(bootstrap_servers: str) -> list[str]:
    return [server.strip().rpartition(":")[0] or server.strip() for server in bootstrap_servers.split(",") if server]


def security_findings(facts: SecurityFacts) -> list[Finding]:
    """The ingest's authentication and TLS, Kafka's transport security, and the secret files."""
    return [
        *ingest_auth_findings(facts.ingest),
        *ingest_tls_findings(facts.ingest),
        *kafka_security_findings(facts),
        *secret_file_findings(facts.secret_files),
    ]


def ingest_auth_findings(ingest: IngestFacts) -> list[Finding]:
    """An ingest anyone can publish through, or one that would refuse to start, or whose token file is unusable."""
    where = f"{ingest.host}:{ingest.port}"
    if ingest.auth == "none":
        message = f"The ingest accepts events from anyone who reaches {where} (ingest.auth=none)"
        fix = f"create identities ({_HOW_TO_ADD}), then unset BRIDGE_INGEST__AUTH and set BRIDGE_INGEST__TOKENS_FILE."
        if is_loopback(ingest.host):
            return [warn("ingest.auth", message + "; it listens on this machine only.", fix)]
        return [fail("ingest.auth", message + ": every one of them can write to the CRM as the integration user.", fix)]
    if ingest.token_file is None:
        return [
            ok(
                "ingest.auth",
                "No ingest token file is configured: not checked (`crm-bridge run ingest` refuses to start without "
                "one, so no ingest runs unauthenticated).",
            )
        ]
    return _token_file_findings(ingest.token_file, ingest.mutual_tls)


def _token_file_findings(tokens: TokenFileFacts, mutual_tls: bool) -> list[Finding]:
    if tokens.error is not None:
        return [fail("ingest.auth", f"{tokens.error}.", f"fix or recreate the file ({_HOW_TO_ADD}).")]
    findings: list[Finding] = []
    if tokens.identities == 0:
        findings.append(
            warn("ingest.auth", f"The token file {tokens.path} has no identity: nobody can publish.", _HOW_TO_ADD)
        )
    if tokens.unusable:
        names = ", ".join(tokens.unusable)
        message = f"Identities without a token or a certificate subject cannot authenticate: {names}."
        findings.append(warn("ingest.auth", message, "crm-bridge ingest token rotate <name>, or remove them."))
    if tokens.subjects and not mutual_tls:
        message = f"The token file lists {tokens.subjects} certificate subject(s), but mutual TLS is off."
        fix = "set BRIDGE_INGEST__TLS_CLIENT_CA_FILE (with the TLS certificate and key files)."
        findings.append(warn("ingest.auth", message, fix))
    if tokens.unbounded:
        message = f"Identities allowed any source and any event type: {', '.join(tokens.unbounded)}."
        fix = "crm-bridge ingest token grant <name> --source <its source> --type <its types>."
        findings.append(warn("ingest.auth", message, fix))
    if not findings:
        counts = f"{tokens.identities} identities, {tokens.tokens} token(s), {tokens.subjects} certificate subject(s)"
        findings.append(ok("ingest.auth", f"The ingest authenticates {counts} from {tokens.path}."))
    return findings


def ingest_tls_findings(ingest: IngestFacts) -> list[Finding]:
    """TLS files that cannot be loaded, or bearer tokens in clear text beyond this machine."""
    if ingest.tls_error is not None:
        return [fail("ingest.tls", f"{ingest.tls_error}.", "fix BRIDGE_INGEST__TLS_CERT_FILE and _TLS_KEY_FILE.")]
    if ingest.tls:
        mode = "mutual TLS (client certificates verified)" if ingest.mutual_tls else "TLS"
        return [ok("ingest.tls", f"The ingest serves {mode}; the certificate is reloaded when its files change.")]
    if is_loopback(ingest.host) or (ingest.auth == "required" and ingest.token_file is None):
        return []  # on this machine only, or no ingest configured (it would not start)
    return [
        warn(
            "ingest.tls",
            f"The ingest serves plain HTTP on {ingest.host}:{ingest.port}: bearer tokens and events cross the "
            "network in clear text.",
            "set BRIDGE_INGEST__TLS_CERT_FILE and BRIDGE_INGEST__TLS_KEY_FILE, or terminate TLS in front of it "
            "(a service mesh, an ingress) and keep the port unreachable otherwise.",
        )
    ]


def kafka_security_findings(facts: SecurityFacts) -> list[Finding]:
    """A Kafka connection beyond this machine without encryption or without authentication."""
    servers = facts.kafka_bootstrap
    if not servers:
        return []  # the Kafka checks report the missing setting
    remote = [h for h in _hosts(servers) if not is_loopback(h)]
    if not remote:
        return [ok("security.kafka", f"Kafka at {servers} is on this machine: {facts.kafka_protocol} is fine here.")]
    protocol = facts.kafka_protocol
    encrypted = protocol in ("SSL", "SASL_SSL")
    authenticated = protocol.startswith("SASL") or facts.kafka_client_certificate
    if encrypted and authenticated:
        how = "SASL" if protocol == "SASL_SSL" else "a client certificate"
        return [ok("security.kafka", f"Kafka traffic to {servers} is encrypted (TLS) and authenticated ({how}).")]
    problems = []
    if not encrypted:
        problems.append("not encrypted: records and any SASL PLAIN password cross the network in clear text")
    if not authenticated:
        problems.append("not authenticated: the brokers cannot tell the bridge apart, so ACLs cannot scope it")
    message = f"The Kafka connection to {', '.join(remote)} ({protocol}) is " + "; and ".join(problems) + "."
    fix = (
        "use BRIDGE_KAFKA__SECURITY_PROTOCOL=SASL_SSL with SASL_MECHANISM=SCRAM-SHA-512, SASL_USERNAME and "
        "SASL_PASSWORD (or SSL with SSL_CERTFILE and SSL_KEYFILE), and SSL_CAFILE for a private CA."
    )
    return [warn("security.kafka", message, fix)]


def secret_file_findings(files: tuple[SecretFile, ...]) -> list[Finding]:
    """Secret files that other users of the machine can read (WARN) or write (FAIL)."""
    findings = []
    for file in files:
        if file.mode is None:
            continue  # unreadable: the check that uses the file says so
        check = f"secrets[{file.setting}]"
        fix = f"chmod 600 {file.path} (Kubernetes: defaultMode 0400 on the Secret volume)."
        if file.mode & 0o002:
            message = f"{file.path} ({file.setting}) is writable by every user (mode {file.mode:04o})"
            findings.append(fail(check, message + ": anyone can replace it.", fix))
        elif file.mode & 0o004:
            message = f"{file.path} ({file.setting}) is readable by every user of the machine (mode {file.mode:04o})."
            findings.append(warn(check, message, fix))
        else:
            findings.append(ok(check, f"{file.path} ({file.setting}) is readable by its owner (and group) only."))
    return findings
