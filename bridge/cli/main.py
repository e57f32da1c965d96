"""The root `crm-bridge` command group; each subcommand lives in its own module beside this one."""

from __future__ import annotations

import logging

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
@click.version_option(package_name="crm-bridge")
def main(log_level: str) -> None:
    """crm-bridge: keep business systems and Salesforce in sync through Kafka."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


# Subcommands register here, one line each (imports stay light: heavy modules load inside the commands).
from bridge.cli.catalog import catalog  # noqa: E402 - registered after the group exists
from bridge.cli.demo import demo  # noqa: E402
from bridge.cli.dlq import dlq  # noqa: E402 - registered after the group exists
from bridge.cli.publish import publish  # noqa: E402

main.add_command(catalog)
main.add_command(dlq)
main.add_command(demo)
main.add_command(publish)
from bridge.cli.config import config  # noqa: E402

main.add_command(config)
