"""`crm-bridge config`: the effective configuration (secrets masked), or the reference tables for the README."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("config")
@click.option("--reference", is_flag=True, help="Print the settings and metrics reference as Markdown.")
@click.option(
    "--write-readme",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Replace the reference block of this README with the current reference.",
)
def config(reference: bool, write_readme: Path | None) -> None:
    """Show the configuration as the environment makes it (BRIDGE_* variables), secrets masked."""
    from bridge.config import Settings  # noqa: PLC0415 - commands load their modules on use
    from bridge.reference import reference_block, synced_readme  # noqa: PLC0415

    if write_readme is not None:
        write_readme.write_text(synced_readme(write_readme.read_text(encoding="utf-8")), encoding="utf-8")
        return
    if reference:
        click.echo(reference_block())
        return
    click.echo(Settings().model_dump_json(indent=2))
