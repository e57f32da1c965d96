"""`crm-bridge kafka fetch|up|down|status`: the local Apache Kafka broker for development and the demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click


def _state_file() -> Path:
    from bridge.kafka.jars import cache_dir  # noqa: PLC0415 - commands load their modules on use

    return cache_dir() / "run" / "state.json"


def _read_state() -> dict[str, Any] | None:
    """The detached broker's state, or None; a state whose process is gone is cleaned up."""
    from bridge.kafka.processes import pid_alive  # noqa: PLC0415

    path = _state_file()
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if not pid_alive(int(state["pid"])):
        shutil.rmtree(state.get("run_dir", ""), ignore_errors=True)
        path.unlink(missing_ok=True)
        return None
    return state


@click.group("kafka")
def kafka() -> None:
    """Run a local single-node Apache Kafka broker (KRaft) from Maven Central jars."""


@kafka.command("fetch")
def fetch() -> None:
    """Fetch the broker's jars into the cache (only when missing)."""
    from bridge.kafka.jars import fetch_jars, kafka_version  # noqa: PLC0415

    lib = fetch_jars()
    click.echo(f"Kafka {kafka_version()} jars in {lib}")


@kafka.command("up")
@click.option("--print-env", is_flag=True, help="Print BRIDGE_KAFKA__BOOTSTRAP_SERVERS=... only.")
def up(print_env: bool) -> None:
    """Start a broker in the background (or report the one already running)."""
    from bridge.kafka.local import LocalKafka  # noqa: PLC0415

    state = _read_state()
    if state is None:
        run_dir = _state_file().parent / "broker"
        shutil.rmtree(run_dir, ignore_errors=True)
        broker = LocalKafka(run_dir=run_dir).start(detached=True)
        state = {"pid": broker.pids()[0], "bootstrap_servers": broker.bootstrap_servers, "run_dir": str(run_dir)}
        _state_file().write_text(json.dumps(state))
        started = True
    else:
        started = False
    if print_env:
        click.echo(f"BRIDGE_KAFKA__BOOTSTRAP_SERVERS={state['bootstrap_servers']}")
        return
    verb = "started" if started else "already running"
    click.echo(f"Kafka {verb} at {state['bootstrap_servers']} (pid {state['pid']})")
    click.echo(f"export BRIDGE_KAFKA__BOOTSTRAP_SERVERS={state['bootstrap_servers']}")


@kafka.command("down")
def down() -> None:
    """Stop the background broker and delete its data."""
    from bridge.kafka.processes import stop_pid  # noqa: PLC0415

    state = _read_state()
    if state is None:
        click.echo("no local Kafka is running")
        return
    stop_pid(int(state["pid"]))
    shutil.rmtree(state["run_dir"], ignore_errors=True)
    _state_file().unlink(missing_ok=True)
    click.echo(f"stopped Kafka at {state['bootstrap_servers']}")


@kafka.command("status")
def status() -> None:
    """Say whether the background broker runs; exit 1 when it does not."""
    state = _read_state()
    if state is None:
        click.echo("no local Kafka is running")
        raise SystemExit(1)
    click.echo(f"Kafka running at {state['bootstrap_servers']} (pid {state['pid']})")
