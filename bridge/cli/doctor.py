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
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from bridge.config import Settings
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from bridge.doctor import Finding


def _findings(timeout_s: float, map_file: Path | None) -> list[Finding]:
    """Findings of every check; settings or a trigger map that cannot be read are findings too."""
    # Commands load their modules on use: `crm-bridge --help` should not pay for aiokafka, httpx and grpc.
    from bridge.doctor import diagnose  # noqa: PLC0415
    from bridge.doctor.findings import fail  # noqa: PLC0415
    from bridge.mediation import load_trigger_map  # noqa: PLC0415

    try:
        settings = Settings()
    except ValidationError as exc:
        # Only where and why: the rejected input may be a secret.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return [fail("settings", f"The settings are invalid: {problems}.", "fix the BRIDGE_* variables named.")]
    try:
        trigger_map = load_trigger_map(map_file)
    except (BridgeError, OSError) as exc:
        return [fail("salesforce.bypass", f"Cannot read the trigger map {map_file}: {exc}.", "fix the --map file.")]
    return asyncio.run(diagnose(settings, timeout_s, trigger_map=trigger_map))


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
    # aiokafka logs every refused connection; the findings already say it once, with the fix.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    from bridge.doctor import exit_code  # noqa: PLC0415

    findings = _findings(timeout_s, map_file)
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
