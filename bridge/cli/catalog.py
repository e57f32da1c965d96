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
    if from_snapshot is None:
        raise click.UsageError("reading a live org needs the Salesforce client; pass --from-snapshot for now")
    snapshot = read_snapshot(from_snapshot)
    if sobjects:
        keep = set(sobjects)
        snapshot = OrgSnapshot(
            {k: v for k, v in snapshot.describes.items() if k in keep},
            {k: v for k, v in snapshot.validation_rules.items() if k in keep},
            {k: v for k, v in snapshot.triggers.items() if k in keep},
        )
    written = write_catalog(out, snapshot)
    click.echo(f"wrote {len(written)} files under {out}", err=True)
