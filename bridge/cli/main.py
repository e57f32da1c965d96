"""The root `crm-bridge` command group; each subcommand lives in its own module beside this one.

Subcommands are imported only when invoked (or listed by --help), so `crm-bridge kafka up` does not pay for faust,
grpc or the emulator.
"""

from __future__ import annotations

import importlib
import logging

import click

COMMANDS: dict[str, str] = {
    "catalog": "bridge.cli.catalog:catalog",
    "config": "bridge.cli.config:config",
    "demo": "bridge.cli.demo:demo",
    "dlq": "bridge.cli.dlq:dlq",
    "doctor": "bridge.cli.doctor:doctor",
    "emulator": "bridge.cli.emulator:emulator",
    "ingest": "bridge.cli.ingest:ingest",
    "kafka": "bridge.cli.kafka:kafka",
    "mediation": "bridge.cli.mediation:mediation",
    "publish": "bridge.cli.publish:publish",
    "run": "bridge.cli.run:run",
    "scaffold": "bridge.cli.scaffold:scaffold",
    "source": "bridge.cli.source:source",
}
"""Command name → `module:attribute` of its click command."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in {*super().list_commands(ctx), *self._lazy} if self.get_command(ctx, name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self._lazy[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # this command's module is not part of this build
                return None
            raise
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
@click.version_option(package_name="crm-bridge")
def main(log_level: str) -> None:
    """crm-bridge: keep business systems and Salesforce in sync through Kafka."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # httpx logs every request at INFO; they are noise unless someone is debugging.
        logging.getLogger("httpx").setLevel(logging.WARNING)
