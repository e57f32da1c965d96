"""`crm-bridge catalog --out DIR`: document the org (objects, fields, relationships, rules, triggers, findings)
and write the snapshot validation uses.

crm-bridge catalog --all --out cat/                          # the whole org (the default when no mapping exists)
crm-bridge catalog --out cat/                                # the objects the mappings write
crm-bridge catalog --all --include 'Pricebook*' --exclude '*__mdt' --out cat/
crm-bridge catalog --all --format json --out cat/ | jq '.findings'
crm-bridge catalog --out docs/ --from-snapshot cat/          # re-render from a snapshot already on disk
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from bridge.catalog.discovery import Selection
    from bridge.catalog.findings import Finding
    from bridge.catalog.model import Org, OrgContext
    from bridge.catalog.output import WriteResult
    from bridge.catalog.snapshot import OrgSnapshot
    from bridge.config import Settings
    from bridge.processing.mapping import Mappings


@dataclass(frozen=True, slots=True)
class Request:
    """What to document."""

    whole_org: bool
    sobjects: tuple[str, ...]
    selection: Selection


class BarProgress:
    """A `FetchProgress` drawing a rich progress bar over the objects and rules read."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID = progress.add_task("Reading the org", total=0, item="")

    def planned(self, total: int) -> None:
        task = self._progress.tasks[self._task]
        self._progress.update(self._task, total=(task.total or 0) + total)

    def done(self, item: str) -> None:
        self._progress.update(self._task, advance=1, item=item)


def _mappings(settings: Settings) -> Mappings | None:
    """The configured mappings; None when there is none yet (a broken one is an error, not "none")."""
    import orjson  # noqa: PLC0415

    from bridge.errors import ConfigError  # noqa: PLC0415
    from bridge.processing.mapping import default_mappings_dir, load_mappings  # noqa: PLC0415

    folder = settings.processor.schemas_dir
    directory = folder / "mappings" if folder else default_mappings_dir()
    if not any(directory.glob("*.json")):
        return None
    try:
        return load_mappings(directory)
    except (ConfigError, OSError, orjson.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read the mappings in {directory}: {exc}") from exc


def _context(settings: Settings, mappings: Mappings | None, trigger_map: Path | None) -> OrgContext:
    from bridge.catalog.model import DEFAULT_BYPASS_SETTINGS, Bypass, OrgContext  # noqa: PLC0415
    from bridge.errors import ConfigError  # noqa: PLC0415
    from bridge.mediation.groups import load_trigger_map  # noqa: PLC0415
    from bridge.processor.worker import default_compiler  # noqa: PLC0415 - the formula engine loads on use

    try:
        triggers = load_trigger_map(trigger_map)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    bypass = Bypass((triggers.setting, *DEFAULT_BYPASS_SETTINGS), frozenset(triggers.triggers))
    return OrgContext(default_compiler(settings), mappings, bypass)


async def _fetch(settings: Settings, request: Request, progress: BarProgress) -> OrgSnapshot:
    from bridge.catalog.fetch import SalesforceOrgReader, fetch_org  # noqa: PLC0415
    from bridge.runtime.salesforce_roles import salesforce_client  # noqa: PLC0415

    names = None if request.whole_org else request.sobjects
    async with salesforce_client(settings) as client:
        return await fetch_org(SalesforceOrgReader(client), request.selection, progress, names)


def _read_org(settings: Settings, request: Request, console: Console) -> OrgSnapshot:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    from bridge.errors import BridgeError  # noqa: PLC0415
    from bridge.runtime.salesforce_roles import salesforce_client  # noqa: PLC0415

    try:
        salesforce_client(settings)  # refuses an incomplete configuration before any I/O
    except BridgeError as exc:
        raise click.ClickException(f"{exc} (or render from a snapshot with --from-snapshot DIR)") from exc
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[item]}"), console=console) as bar:
        try:
            return asyncio.run(_fetch(settings, request, BarProgress(bar)))
        except BridgeError as exc:
            raise click.ClickException(str(exc)) from exc


def _summary(
    console: Console, org: Org, findings: list[Finding], result: WriteResult, *, out: Path, left_out: list[str]
) -> None:
    kinds = Counter(o.kind for o in org.objects.values())
    described = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    console.print(f"Documented {len(org.objects)} objects ({described}) and {len(org.relationships)} relationships.")
    severities = Counter(f.severity for f in findings)
    counts = ", ".join(f"{severities.get(s, 0)} {s}" for s in ("error", "warning", "info"))
    console.print(f"Findings: {counts}; see {out / 'findings.md'}.")
    for note in org.notes:
        console.print(f"Note: {note}")
    if left_out:
        shown = ", ".join(left_out[:8]) + (", ..." if len(left_out) > 8 else "")
        noun = "object" if len(left_out) == 1 else "objects"
        console.print(f"Left out {len(left_out)} standard {noun} without data ({shown}); --include adds them.")
    if result.diagram_error:
        console.print(f"SVG diagrams not drawn: {result.diagram_error}; the pages keep their Mermaid diagrams.")
    console.print(f"Wrote {len(result.paths)} files under {out}.")


def _request(whole: bool, sobjects: tuple[str, ...], selection: Selection, mappings: Mappings | None) -> Request:
    always = selection.always
    if sobjects:
        return Request(False, sobjects, selection)
    if whole or mappings is None:
        return Request(True, (), selection)
    return Request(False, tuple(sorted(always)), selection)


def _from_snapshot(folder: Path, sobjects: tuple[str, ...], selection: Selection) -> OrgSnapshot:
    from bridge.catalog.snapshot import read_snapshot  # noqa: PLC0415
    from bridge.errors import ConfigError  # noqa: PLC0415

    try:
        snapshot = read_snapshot(folder)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    names = [n for n in snapshot.describes if not selection.excluded(n)]
    return snapshot.only(sobjects or names)


@click.command("catalog")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Output folder.")
@click.option("--all", "whole", is_flag=True, help="Document the whole org (the default when no mapping exists).")
@click.option("--sobject", "sobjects", multiple=True, help="Document only these SObjects.")
@click.option("--include", multiple=True, help="With --all: also document objects matching this pattern (Case*).")
@click.option("--exclude", multiple=True, help="Leave out objects matching this pattern (*__mdt).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--map", "trigger_map", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="The org's trigger → bypass flag map (default: the one packaged for salesforce/).")  # fmt: skip
@click.option(
    "--from-snapshot",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Render from a snapshot folder instead of reading the org.",
)
def catalog(
    *,
    out: Path,
    whole: bool,
    sobjects: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    fmt: str,
    trigger_map: Path | None,
    from_snapshot: Path | None,
) -> None:
    """Document the org's objects, fields, relationships, validation rules, triggers and findings."""
    from rich.console import Console  # noqa: PLC0415

    from bridge.catalog.discovery import Selection  # noqa: PLC0415
    from bridge.config import Settings  # noqa: PLC0415

    settings = Settings()
    mappings = _mappings(settings)
    selection = Selection(include, exclude, mappings.sobjects if mappings is not None else frozenset())
    request = _request(whole, sobjects, selection, mappings)
    console = Console(stderr=True)
    if from_snapshot is not None:
        snapshot = _from_snapshot(from_snapshot, sobjects, selection)
    else:
        snapshot = _read_org(settings, request, console)
    _document(snapshot, _context(settings, mappings, trigger_map), out=out, fmt=fmt, console=console)
    if not request.whole_org and not sobjects and from_snapshot is None:
        console.print("Documented the objects the mappings write; --all documents the whole org.")


def _document(snapshot: OrgSnapshot, context: OrgContext, *, out: Path, fmt: str, console: Console) -> None:
    """Build, check, write and summarise the catalog of `snapshot`."""
    import orjson  # noqa: PLC0415

    from bridge.catalog.findings import find_all  # noqa: PLC0415
    from bridge.catalog.model import build_org  # noqa: PLC0415
    from bridge.catalog.output import catalog_json, write_catalog  # noqa: PLC0415

    org = build_org(snapshot, context)
    findings = find_all(org, context)
    try:
        result = write_catalog(out, snapshot, org, findings, fmt=fmt)
    except OSError as exc:
        raise click.ClickException(f"cannot write the catalog under {out}: {exc}") from exc
    if fmt == "json":
        click.echo(orjson.dumps(catalog_json(org, findings), option=orjson.OPT_INDENT_2).decode())
    left_out = [n for n in snapshot.facts.left_out if n not in org.objects]
    _summary(console, org, findings, result, out=out, left_out=left_out)
