"""`crm-bridge scaffold SOBJECT --event-type T`: draft a mapping and an event JSON Schema from the object's describe.

crm-bridge scaffold Subscription__c --event-type com.acme.billing.subscription.upserted
crm-bridge scaffold Invoice__c --event-type com.acme.billing.invoice.upserted --from-snapshot cat/

The draft goes to `<schemas>/mappings/<type>.json` and `<schemas>/events/<type>.schema.json` only after it passed
the project's own checks (the schema registry and the mapping loader read it, its example event validates and
maps); existing files are kept unless `--force`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bridge.config import Settings


def _parents(describe: Mapping[str, Any]) -> set[str]:
    return {
        str(t) for f in describe.get("fields") or () if f.get("type") == "reference" for t in f.get("referenceTo") or ()
    }


async def _from_org(settings: Settings, sobject: str) -> dict[str, Mapping[str, Any]]:
    from bridge.runtime.salesforce_roles import salesforce_client  # noqa: PLC0415

    async with salesforce_client(settings) as client:
        describe = await client.describe(sobject)
        describes: dict[str, Mapping[str, Any]] = {sobject: describe}
        for parent in sorted(_parents(describe) - {"User", "Group"}):
            describes[parent] = await client.describe(parent)
        return describes


def _describes(settings: Settings, sobject: str, snapshot: Path | None) -> dict[str, Mapping[str, Any]]:
    from bridge.catalog.snapshot import read_snapshot  # noqa: PLC0415
    from bridge.errors import BridgeError  # noqa: PLC0415
    from bridge.runtime.salesforce_roles import salesforce_client  # noqa: PLC0415

    try:
        if snapshot is not None:
            describes = dict(read_snapshot(snapshot).describes)
        else:
            salesforce_client(settings)  # refuses an incomplete configuration before any I/O
            describes = asyncio.run(_from_org(settings, sobject))
    except BridgeError as exc:
        raise click.ClickException(f"{exc} (or draft from a catalog snapshot with --from-snapshot DIR)") from exc
    if sobject not in describes:
        raise click.ClickException(f"{sobject} is not in the snapshot {snapshot} (catalog it with --sobject {sobject})")
    return describes


def _write(schemas: Path, relative: str, document: Any, force: bool) -> Path:
    import orjson  # noqa: PLC0415

    path = schemas / relative
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; --force overwrites it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def _envelope(schemas: Path) -> Path:
    from bridge.events.schemas import DEFAULT_SCHEMAS_DIR  # noqa: PLC0415

    own = schemas / "envelope.schema.json"
    return own if own.is_file() else DEFAULT_SCHEMAS_DIR / "envelope.schema.json"


@click.command("scaffold")
@click.argument("sobject")
@click.option("--event-type", required=True, help="The event type to map, e.g. com.acme.billing.invoice.upserted.")
@click.option("--topic", default=None, help="Its domain topic (default: domain.<system>.<entity> from the type).")
@click.option("--lane", type=click.Choice(["bulk", "realtime"]), default="bulk", show_default=True)
@click.option("--external-id-field", default=None, help="Upsert by this field (default: the unique external ID).")
@click.option("--all-fields", is_flag=True, help="Every createable field, not just required, custom and lookups.")
@click.option("--schemas-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to write (default: BRIDGE_PROCESSOR__SCHEMAS_DIR, else ./schemas).")  # fmt: skip
@click.option("--from-snapshot", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Read describes from a catalog snapshot instead of the org.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def scaffold(
    *,
    sobject: str,
    event_type: str,
    topic: str | None,
    lane: str,
    external_id_field: str | None,
    all_fields: bool,
    schemas_dir: Path | None,
    from_snapshot: Path | None,
    force: bool,
) -> None:
    """Draft a mapping and an event JSON Schema for SOBJECT from its describe."""
    from bridge.catalog.scaffold import Options, ScaffoldError, check_draft  # noqa: PLC0415
    from bridge.catalog.scaffold import scaffold as draft_for  # noqa: PLC0415
    from bridge.config import Settings  # noqa: PLC0415

    settings = Settings()
    schemas = schemas_dir or settings.processor.schemas_dir or Path("schemas")
    describes = _describes(settings, sobject, from_snapshot)
    options = Options(topic, lane, external_id_field, all_fields)
    try:
        draft = draft_for(describes[sobject], describes, event_type, options)
        check_draft(draft, _envelope(schemas))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    if not (schemas / "envelope.schema.json").is_file():
        _write(schemas, "envelope.schema.json", _read_json(_envelope(schemas)), force=False)
    written = [
        _write(schemas, draft.schema_path, draft.schema, force),
        _write(schemas, draft.mapping_path, draft.mapping, force),
    ]
    for path in written:
        click.echo(f"wrote {path}")
    fields = ", ".join(draft.mapping["fields"]) or "none"
    click.echo(f"{sobject} upserted by {draft.mapping['external_id_field']}; fields: {fields}.", err=True)
    click.echo("A draft: rename the event properties to what the source sends, then publish an example.", err=True)


def _read_json(path: Path) -> Any:
    import orjson  # noqa: PLC0415

    return orjson.loads(path.read_bytes())
