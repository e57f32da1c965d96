"""What the demo watches while the sync runs: outcomes on `crm.results` and `crm.dlq`, change events flowing back
on `crm.cdc.*`, and the roles' own counters on `/metrics`.

    async with Outcomes(bootstrap, topics, run_id) as outcomes:
        ...                                  # outcomes.written_ids, outcomes.dead_letters, outcomes.changes
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import TopicSettings
from bridge.processing.routing import decode_dead_letter, decode_write
from bridge.source.changes import decode_change_record

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter of this run: which event, at which stage, why."""

    event_ids: tuple[str, ...]
    stage: str
    reason: str
    detail: str


@dataclass(slots=True)
class Outcomes:
    """Every outcome of this run's events, read back from Kafka as a downstream consumer would (read_committed)."""

    bootstrap_servers: str
    topics: TopicSettings
    run_id: str
    cdc_topics: tuple[str, ...] = ()
    written_ids: set[str] = field(default_factory=set)
    written_at_s: dict[str, float] = field(default_factory=dict)  # event id → when its first result was read
    result_records: Counter[tuple[str, str]] = field(default_factory=Counter)
    letters: dict[tuple[str, ...], Letter] = field(default_factory=dict)
    unreadable: int = 0
    letter_copies: Counter[tuple[str, ...]] = field(default_factory=Counter)
    change_copies: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: int = 0
    echoes: int = 0
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Self:
        topics = [self.topics.results, self.topics.dlq, *self.cdc_topics]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=f"demo-observer-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
            metadata_max_age_ms=2_000,
        )
        await self._consumer.start()
        # Subscribed after start: a topic the roles have not created yet is picked up when it appears (start with
        # topics would wait for each and fail after the request timeout).
        self._consumer.subscribe(topics)
        self._task = asyncio.create_task(self._consume(), name="demo-observer")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            # aiokafka's fetcher re-raises the CancelledError of its own fetch task when it is stopped in the middle
            # of a retry backoff (after a fetch timed out): the observer is done reading, so that is no failure.
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await self._consumer.stop()

    def reasons_by_stage(self) -> dict[str, Counter[str]]:
        """Dead-lettered events by stage (`sink` = refused by the CRM, any other = before it) and reason."""
        reasons: dict[str, Counter[str]] = {}
        for letter in self.letters.values():
            reasons.setdefault(letter.stage, Counter())[letter.reason] += len(letter.event_ids)
        return reasons

    @property
    def dead_lettered_ids(self) -> set[str]:
        """Event ids of this run that ended on the DLQ."""
        return {event_id for ids in self.letters for event_id in ids}

    async def _consume(self) -> None:
        assert self._consumer is not None  # noqa: S101 - set in __aenter__
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5_000)
            for records in batches.values():
                for record in records:
                    self._take(record.topic, record.key, record.value, record.headers)

    def _take(self, topic: str, key: bytes | None, value: bytes | None, headers: object) -> None:
        try:
            if topic == self.topics.results:
                self._result(value or b"")
            elif topic == self.topics.dlq:
                self._letter(value or b"")
            else:
                self._change(key, value, headers)
        except (ValueError, KeyError, TypeError) as exc:
            self.unreadable += 1
            log.warning("unreadable record on %s: %s", topic, exc)

    def _result(self, value: bytes) -> None:
        doc = orjson.loads(value)
        ids = [str(i) for i in doc["event_ids"] if str(i).startswith(self.run_id)]
        if ids:
            self.written_ids.update(ids)
            now_s = time.monotonic()
            for event_id in ids:
                self.written_at_s.setdefault(event_id, now_s)
            self.result_records[(str(doc["sobject"]), str(doc["external_id"]))] += 1

    def _letter(self, value: bytes) -> None:
        letter = decode_dead_letter(value)
        if letter.stage == "sink":
            ids = tuple(decode_write(letter.payload).event_ids)
        else:
            ids = tuple(v.decode() for name, v in letter.headers if name == "ce_id")
        if ids and all(i.startswith(self.run_id) for i in ids):
            self.letters[ids] = Letter(ids, letter.stage, _reason(letter.reason, letter.detail), letter.detail)
            self.letter_copies[ids] += 1

    def _change(self, key: bytes | None, value: bytes | None, headers: object) -> None:
        event = decode_change_record(key, value, headers)  # type: ignore[arg-type]
        self.changes += 1
        self.echoes += event.is_echo
        self.change_copies[(event.channel, event.replay_id)] += 1


def _reason(reason: str, detail: str) -> str:
    """The reason, with the validation rule's name when the detail names one (`validation_rule:Account_Phone`)."""
    try:
        parsed = orjson.loads(detail)
    except orjson.JSONDecodeError:
        return reason
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict) and parsed[0].get("rule"):
        return f"{reason}:{parsed[0]['rule']}"
    return reason


async def scrape(url: str, client: httpx.AsyncClient) -> dict[str, float]:
    """A role's metrics as `name{label=value,...}` → value (empty when the role is not serving yet)."""
    try:
        response = await client.get(url, timeout=5.0)
    except httpx.HTTPError:
        return {}
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = [f"{k}={v}" for k, v in labels.items()]
    result = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        if metric == name and all(w in rest.rstrip("}").split(",") for w in wanted):
            result += value
    return result


def by_label(samples: dict[str, float], name: str, label: str) -> dict[str, float]:
    """Values of `name` summed per value of `label`."""
    result: dict[str, float] = {}
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        for pair in rest.rstrip("}").split(","):
            k, _, v = pair.partition("=")
            if k == label:
                result[v] = result.get(v, 0.0) + value
    return result
