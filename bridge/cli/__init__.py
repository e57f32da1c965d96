"""The `crm-bridge` command line: the only place that handles signals and builds settings from the environment."""

from bridge.cli.main import main

__all__ = ["main"]
