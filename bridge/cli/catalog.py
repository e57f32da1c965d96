"""`crm-bridge catalog --out DIR`: document the org (Markdown per object) and write the schemas validation uses.

crm-bridge catalog --out catalog/                          # read the org named by BRIDGE_SALESFORCE__*
crm-bridge catalog --out docs/ --from-snapshot catalog/    # re-render from a snapshot already on disk
"""

from __future__ import annotations

from pathlib import Path

import click

from bridge.catalog.document import render_catalog
from bridge.catalog.snapshot import OrgSnapshot, read_snapshot, write_snapshot


def write_catalog(out: Path, snapshot: OrgSnapshot) -> list[Path]:
    """Write the snapshot files and the Markdown pages under `out`; returns every path written."""
    from bridge.processor.worker import default_compiler  # noqa: PLC0415 - the formula engine loads on use

    written = write_snapshot(out, snapshot)
    for name, text in render_catalog(snapshot, default_compiler()).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _read_org(sobjects: tuple[str, ...]) -> OrgSnapshot:
    """Describe, validation rules and triggers of `sobjects` (default: the mapped ones) from the configured org."""
    import asyncio  # noqa: PLC0415

    from bridge.config import Settings  # noqa: PLC0415
    from bridge.errors import BridgeError  # noqa: PLC0415
    from bridge.runtime.salesforce_roles import read_org_snapshot, salesforce_client  # noqa: PLC0415

    settings = Settings()
    try:
        client = salesforce_client(settings)  # refuses an incomplete configuration before any I/O
    except BridgeError as exc:
        raise click.ClickException(f"{exc} (or render from a snapshot with --from-snapshot DIR)") from exc
    try:
        return asyncio.run(read_org_snapshot(client, settings, sobjects))
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("catalog")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Output folder.")
@click.option("--sobject", "sobjects", multiple=True, help="SObjects to read (default: those the mappings write).")
@click.option(
    "--from-snapshot",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Render from a snapshot folder instead of reading the org.",
)
def catalog(out: Path, sobjects: tuple[str, ...], from_snapshot: Path | None) -> None:
    """Document the org's objects, fields, validation rules and triggers, and write the validation schemas."""
    snapshot = read_snapshot(from_snapshot) if from_snapshot is not None else _read_org(sobjects)
    if sobjects:
        keep = set(sobjects)
        snapshot = OrgSnapshot(
            {k: v for k, v in snapshot.describes.items() if k in keep},
            {k: v for k, v in snapshot.validation_rules.items() if k in keep},
            {k: v for k, v in snapshot.triggers.items() if k in keep},
        )
    written = write_catalog(out, snapshot)
    click.echo(f"wrote {len(written)} files under {out}", err=True)
