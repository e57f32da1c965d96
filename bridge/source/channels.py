"""Pub/Sub channel names and the Kafka topics their events land on."""

from __future__ import annotations

ALL_CHANGE_EVENTS = "/data/ChangeEvents"


def is_change_channel(channel: str) -> bool:
    """`/data/...` channels carry change events; `/event/...` channels carry Platform Events."""
    return channel.startswith("/data/")


def entity_of_channel(channel: str) -> str | None:
    """The single entity of a per-object change channel (`/data/AccountChangeEvent` → `Account`)."""
    name = channel.removeprefix("/data/")
    if channel == ALL_CHANGE_EVENTS or not is_change_channel(channel) or not name.endswith("ChangeEvent"):
        return None
    base = name.removesuffix("ChangeEvent")
    return f"{base}c" if base.endswith("__") else base


def event_name_of_channel(channel: str) -> str:
    """The Platform Event of an `/event/X__e` channel."""
    return channel.removeprefix("/event/")


def kafka_topic(channel: str, entity: str | None, *, cdc_prefix: str, events_prefix: str) -> str:
    """`crm.cdc.<Entity>` for change events, `crm.events.<Name__e>` for Platform Events."""
    if is_change_channel(channel):
        return f"{cdc_prefix}{entity}"
    return f"{events_prefix}{event_name_of_channel(channel)}"
