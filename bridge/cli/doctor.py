"""`crm-bridge doctor`: check the deployment's Kafka and Salesforce set-up and say what is wrong in plain words.

crm-bridge doctor                 # one line per finding: OK / WARN / FAIL, with the fix
crm-bridge doctor --json          # the same findings as a JSON document
crm-bridge doctor --strict        # warnings make the exit status 2

Exit status: 0 nothing failed (warnings allowed); 1 something failed; 2 only warnings, with --strict.
Settings come from the environment (BRIDGE_*); secrets are never printed. See docs/doctor.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from bridge.config import Settings
from bridge.errors import BridgeError


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Only where and why: the rejected input may be a secret.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid settings: {problems}") from None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--strict", is_flag=True, help="Exit 2 when there are warnings (and no failures).")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds each check may wait for Kafka or Salesforce.",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trigger map (TOML) for the bypass check; default: the one mirroring salesforce/.",
)
def doctor(as_json: bool, strict: bool, timeout_s: float, map_file: Path | None) -> None:
    """Check Kafka, the topics, Salesforce login, the API budget and the trigger bypass."""
    from bridge.doctor import diagnose, exit_code  # noqa: PLC0415 - commands load their modules on use

    settings = _settings()
    # aiokafka logs every refused connection; the findings already say it once, with the fix.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        findings = asyncio.run(diagnose(settings, timeout_s, trigger_map_file=map_file))
    except BridgeError as exc:
        raise click.UsageError(exc.message) from None
    code = exit_code(findings, strict=strict)
    if as_json:
        document = {"exit_code": code, "findings": [f.as_dict() for f in findings]}
        click.echo(json.dumps(document, indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
        counts = {s: sum(1 for f in findings if f.status.value == s) for s in ("OK", "WARN", "FAIL")}
        click.echo(f"{counts['FAIL']} failed, {counts['WARN']} warning(s), {counts['OK']} ok.")
    sys.exit(code)
