"""`crm-bridge publish FILE.jsonl`: publish structured CloudEvents, one per line, through the Publisher.

    crm-bridge publish events.jsonl                      # each event to its type's topic
    crm-bridge publish --topic domain.erp.customer events.jsonl

Every line is accounted for: published, invalid (with its line number and reason) or failed (not
acknowledged). Blank lines are skipped and counted. The exit status is 1 when any line was invalid or failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.config import Settings
from bridge.errors import BridgeError, EventError
from bridge.events.envelope import CloudEvent, parse_structured

if TYPE_CHECKING:
    from rich.console import Console

    from bridge.publisher import Publisher

Progress = Callable[[int], None]


@dataclass(slots=True)
class PublishSummary:
    """Counts of one run, and the problems by line number."""

    lines: int = 0
    blank: int = 0
    published: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, kind, message)

    @property
    def invalid(self) -> int:
        """Lines that were not valid events (nothing sent for them)."""
        return sum(1 for _, kind, _ in self.problems if kind == "invalid")

    @property
    def failed(self) -> int:
        """Valid events the broker did not acknowledge."""
        return sum(1 for _, kind, _ in self.problems if kind == "failed")

    @property
    def ok(self) -> bool:
        """Every non-blank line was published."""
        return not self.problems


def read_events(path: Path, summary: PublishSummary) -> Iterator[tuple[int, CloudEvent]]:
    """Parse the file line by line; bad lines go into `summary.problems` with their numbers."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            summary.lines += 1
            if not line.strip():
                summary.blank += 1
                continue
            try:
                yield number, parse_structured(line)
            except EventError as exc:
                summary.problems.append((number, "invalid", f"{exc.reason}: {exc.message}"))


async def publish_file(
    settings: Settings,
    path: Path,
    *,
    topic: str | None = None,
    batch_size: int = 500,
    on_progress: Progress | None = None,
) -> PublishSummary:
    """Publish every event of `path` in batches of `batch_size`, reporting lines processed to `on_progress`."""
    from bridge.publisher import Publisher  # noqa: PLC0415 - Kafka loads only when a command runs

    summary = PublishSummary()
    batch: list[tuple[int, CloudEvent]] = []
    async with Publisher(settings) as publisher:
        for item in read_events(path, summary):
            batch.append(item)
            if len(batch) >= batch_size:
                await _flush(publisher, batch, topic, summary, on_progress)
        await _flush(publisher, batch, topic, summary, on_progress)
    return summary


async def _flush(
    publisher: Publisher,
    batch: list[tuple[int, CloudEvent]],
    topic: str | None,
    summary: PublishSummary,
    on_progress: Progress | None,
) -> None:
    if batch:
        results = await publisher.publish_many([event for _, event in batch], topic=topic)
        for (number, _), result in zip(batch, results, strict=True):
            if result.error is None:
                summary.published += 1
            else:
                summary.problems.append((number, _kind(result.error), result.error.message))
        batch.clear()
    if on_progress is not None:
        on_progress(summary.lines)


def _kind(error: BridgeError) -> str:
    return "invalid" if isinstance(error, EventError) else "failed"


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", default=None, help="Send every event to this topic instead of its type's topic.")
@click.option(
    "--bootstrap-servers", default=None, help="Kafka bootstrap servers (else BRIDGE_KAFKA__BOOTSTRAP_SERVERS)."
)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
def publish(file: Path, topic: str | None, bootstrap_servers: str | None, batch_size: int) -> None:
    """Publish structured CloudEvents from FILE (JSON Lines), with a progress bar and a summary."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    settings = Settings()
    if bootstrap_servers:
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})}
        )
    console = Console(stderr=True)
    with file.open("rb") as lines:
        total = sum(1 for _ in lines)
    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("publish", total=total)
        try:
            summary = asyncio.run(
                publish_file(
                    settings,
                    file,
                    topic=topic,
                    batch_size=batch_size,
                    on_progress=lambda lines: progress.update(task, completed=lines),
                )
            )
        except BridgeError as exc:
            raise click.ClickException(exc.message) from exc
    _report(console, summary)
    if not summary.ok:
        raise SystemExit(1)


def _report(console: Console, summary: PublishSummary) -> None:
    for number, kind, message in sorted(summary.problems):
        console.print(f"line {number}: {kind}: {message}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"lines: {summary.lines}  published: {summary.published}  invalid: {summary.invalid}  "
        f"failed: {summary.failed}  blank: {summary.blank}",
        markup=False,
        highlight=False,
    )
