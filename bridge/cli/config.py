"""`crm-bridge config`: the effective configuration (secrets masked), or the reference tables for the README."""

from __future__ import annotations

import click


@click.command("config")
@click.option("--reference", is_flag=True, help="Print the settings and metrics reference as Markdown.")
def config(reference: bool) -> None:
    """Show the configuration as the environment makes it (BRIDGE_* variables), secrets masked."""
    from bridge.config import Settings  # noqa: PLC0415 - commands load their modules on use
    from bridge.reference import markdown_metrics, markdown_settings  # noqa: PLC0415

    if reference:
        click.echo("### Settings\n\n" + markdown_settings() + "\n\n### Metrics\n\n" + markdown_metrics())
        return
    click.echo(Settings().model_dump_json(indent=2))
