"""Retained Pub/Sub events of the emulated org: Avro-encoded change events and Platform Events with replay ids.

Change events are kept on `/data/ChangeEvents` and on their per-object channel (`/data/AccountChangeEvent`),
Platform Events on `/event/<Name__e>`. Replay ids come from one org-wide counter, so they are increasing but not
contiguous on a channel, as on the real service. Events older than the retention window (72 h of the emulator's
clock) are dropped, and a replay id that is no longer retained is refused by the server.

Every event's `id` is a UUID, as Salesforce fills it ("For Pub/Sub API clients, the event id field contains the event
UUID value"); a Platform Event published through the Pub/Sub API keeps the `ProducerEvent.id` its publisher gave it
(the proto: "Either a user-provided ID or a system generated guid"), and that id is its publish result's
`correlation_key`. Salesforce documents no deduplication by that id, so neither does the feed: the same event
published twice is two events.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro
import orjson

from bridge.emulator.pubsub_contract import FeedEvent, PublishOutcome
from bridge.pubsub.avro import change_event_schema, decode_payload, encode_payload, platform_event_schema, schema_id_of
from bridge.pubsub.bitmaps import encode_bitmap

ALL_CHANGES = "/data/ChangeEvents"
RETENTION_S = 72 * 3600
MAX_EVENT_BYTES = 1024 * 1024  # "Each event message in a batch in a PublishRequest has a maximum size of 1 MB."
DEFAULT_TENANT = "00D000000000001AAA"


def change_channel(entity: str) -> str:
    """The per-object change channel: `Account` → `/data/AccountChangeEvent`, `X__c` → `/data/X__ChangeEvent`."""
    base = entity.removesuffix("c") if entity.endswith("__c") else entity
    return f"/data/{base}ChangeEvent"


@dataclass(frozen=True, slots=True)
class _Retained:
    replay_id: int
    event: FeedEvent
    at_s: float


class PubSubFeed:
    """The store behind the Pub/Sub server. `clock` is the emulator's clock (seconds), so tests can expire events."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        session_valid: Callable[[str], bool],
        retention_s: float = RETENTION_S,
        tenant_id: str = DEFAULT_TENANT,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._session_valid = session_valid
        self.tenant_id = tenant_id
        self._random = random.Random(seed)  # noqa: S311 - reproducible event UUIDs, not security
        self._retention_s = retention_s
        self._counter = 1000
        self._channels: dict[str, list[_Retained]] = {ALL_CHANGES: []}
        self._schemas: dict[str, tuple[dict[str, Any], Any]] = {}
        self._topic_schema: dict[str, str] = {}
        self._appended = asyncio.Event()

    # --- registration -------------------------------------------------------------------------------------------
    def register_entity(self, entity: str, fields: Sequence[tuple[str, str]]) -> str:
        """Enable change data capture for an object given its `(field, describe type)` list; returns the schema id."""
        schema = change_event_schema(entity, fields)
        schema_id = self._add_schema(schema)
        channel = change_channel(entity)
        self._channels.setdefault(channel, [])
        self._topic_schema[channel] = schema_id
        self._topic_schema.setdefault(ALL_CHANGES, schema_id)
        return schema_id

    def register_platform_event(self, name: str, fields: Sequence[tuple[str, str]]) -> str:
        """Define a Platform Event `X__e`; returns its schema id."""
        schema_id = self._add_schema(platform_event_schema(name, fields))
        self._channels.setdefault(f"/event/{name}", [])
        self._topic_schema[f"/event/{name}"] = schema_id
        return schema_id

    def _add_schema(self, schema: dict[str, Any]) -> str:
        schema_id = schema_id_of(schema)
        self._schemas[schema_id] = (schema, fastavro.parse_schema(schema))
        return schema_id

    # --- writing ------------------------------------------------------------------------------------------------
    def append_change(self, entity: str, header: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """Retain one change event. `header` holds ChangeEventHeader fields with field lists as names."""
        schema_id = self._topic_schema[change_channel(entity)]
        schema, parsed = self._schemas[schema_id]
        avro_header = dict(header)
        for name in ("changedFields", "nulledFields", "diffFields"):
            names = header.get(name) or []
            avro_header[name] = encode_bitmap(schema, names) if names else []
        known = {f["name"] for f in schema["fields"][1:]}
        record = {"ChangeEventHeader": avro_header, **{k: v for k, v in values.items() if k in known}}
        payload = encode_payload(parsed, record)
        replay_id = self._next_id()
        event = FeedEvent(replay_id, self.new_event_id(), schema_id, payload)
        for channel in (ALL_CHANGES, change_channel(entity)):
            self._channels[channel].append(_Retained(replay_id, event, self._clock()))
        self._notify()
        return replay_id

    def append_platform_event(self, name: str, event_id: str, values: Mapping[str, Any]) -> int:
        """Retain one Platform Event (as published through REST or Pub/Sub)."""
        schema_id = self._topic_schema[f"/event/{name}"]
        _, parsed = self._schemas[schema_id]
        replay_id = self._next_id()
        event = FeedEvent(replay_id, event_id, schema_id, encode_payload(parsed, values))
        self._channels[f"/event/{name}"].append(_Retained(replay_id, event, self._clock()))
        self._notify()
        return replay_id

    def new_event_id(self) -> str:
        """A fresh event UUID (version 4), as the event bus assigns one to every event."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _next_id(self) -> int:
        # Org-wide counter, stepping by more than one: ids on one channel are increasing, not contiguous.
        self._counter += 3
        return self._counter

    def _notify(self) -> None:
        # Wake every waiter, then arm a fresh event for the next append.
        self._appended.set()
        self._appended = asyncio.Event()

    # --- the ChangeFeed protocol --------------------------------------------------------------------------------
    def _retained(self, topic: str) -> list[_Retained]:
        events = self._channels.get(topic, [])
        horizon = self._clock() - self._retention_s
        while events and events[0].at_s < horizon:
            events.pop(0)
        return events

    def topic_exists(self, topic: str) -> bool:
        return topic in self._channels

    def topic_schema_id(self, topic: str) -> str:
        return self._topic_schema.get(topic, "")

    def schema_json(self, schema_id: str) -> str | None:
        found = self._schemas.get(schema_id)
        return None if found is None else orjson.dumps(found[0]).decode()

    def latest(self, topic: str) -> int:
        events = self._retained(topic)
        return events[-1].replay_id if events else self._counter

    def earliest(self, topic: str) -> int:
        events = self._retained(topic)
        return events[0].replay_id if events else self._counter + 1

    def is_retained(self, topic: str, replay_id: int) -> bool:
        events = self._retained(topic)
        ids = [e.replay_id for e in events]
        index = bisect.bisect_left(ids, replay_id)
        return (index < len(ids) and ids[index] == replay_id) or (not ids and replay_id == self._counter)

    def read_after(self, topic: str, replay_id: int, limit: int) -> Sequence[FeedEvent]:
        events = self._retained(topic)
        index = bisect.bisect_right([e.replay_id for e in events], replay_id)
        return [e.event for e in events[index : index + limit]]

    async def wait_after(self, topic: str, replay_id: int, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.read_after(topic, replay_id, 1) and loop.time() < deadline:
            try:
                await asyncio.wait_for(self._appended.wait(), timeout=deadline - loop.time())
            except TimeoutError:
                return

    def session_valid(self, access_token: str) -> bool:
        return self._session_valid(access_token)

    def tenant_matches(self, tenant_id: str) -> bool:
        """True when `tenant_id` names this org, in its 15- or 18-character form."""
        return len(tenant_id) in (15, 18) and tenant_id[:15] == self.tenant_id[:15]

    def can_publish(self, topic: str) -> bool:
        """Platform Event channels take publishes; change event channels are written by the org only."""
        return topic.startswith("/event/") and topic in self._channels

    def publish(self, topic: str, events: Sequence[Any]) -> list[PublishOutcome]:
        """Publish ProducerEvents on a Platform Event channel; one outcome per event, each on its own."""
        return [self._publish_one(topic, event) for event in events]

    def _publish_one(self, topic: str, event: Any) -> PublishOutcome:
        key = event.id or self.new_event_id()
        refusal = self._refusal(topic, event)
        if refusal is not None:
            return PublishOutcome(key, None, refusal)
        _, parsed = self._schemas[event.schema_id]
        try:
            values = decode_payload(parsed, event.payload)
        except (ValueError, EOFError, IndexError, TypeError) as exc:
            return PublishOutcome(key, None, f"payload does not match its schema: {exc}")
        missing = [name for name in ("CreatedDate", "CreatedById") if values.get(name) in (None, "")]
        if missing:
            return PublishOutcome(key, None, f"required system fields missing: {', '.join(missing)}")
        return PublishOutcome(key, self.append_platform_event(topic.removeprefix("/event/"), key, values), None)

    def _refusal(self, topic: str, event: Any) -> str | None:
        """Why the event cannot be published before its payload is read, or None."""
        if not self.can_publish(topic):
            return f"publishing is not allowed on {topic}"
        if len(event.payload) > MAX_EVENT_BYTES:
            return "the event message exceeds the maximum size of 1 MB"
        if event.schema_id not in self._schemas:
            return f"unknown schema id {event.schema_id!r}"
        if event.schema_id != self._topic_schema.get(topic):
            return f"schema id {event.schema_id!r} is not a schema of {topic}"
        return None

    def count(self, topic: str) -> int:
        """Events retained on a channel (for inspection)."""
        return len(self._retained(topic))
