"""The roles that talk to Salesforce, composed from the real client: the sink, the source, the org snapshot.

The Salesforce client is built here and only here, from `SalesforceSettings`; every call carries
`Sforce-Call-Options: client=<call_options_client>`, so the source can tell our own writes' echoes apart.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.metrics import Metrics
from bridge.pubsub.client import Credentials, PubSubClient
from bridge.pubsub.publisher import EventOutcome, EventPublisher, OutgoingEvent
from bridge.salesforce import SalesforceClient, auth_from_settings
from bridge.salesforce.bulk import BulkResult
from bridge.salesforce.results import SaveResult
from bridge.source.channels import entity_of_channel

if TYPE_CHECKING:
    from bridge.catalog.snapshot import OrgSnapshot

log = logging.getLogger(__name__)

_API_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def salesforce_client(
    settings: Settings, metrics: Metrics | None = None, on_limit_info: Any = None
) -> SalesforceClient:
    """The deployment's client (not yet entered: `async with salesforce_client(settings) as client:`)."""
    auth = auth_from_settings(settings.salesforce)
    return SalesforceClient(settings.salesforce, auth, metrics=metrics, on_limit_info=on_limit_info)


def mapped_sobjects(settings: Settings) -> list[str]:
    """The SObjects the configured mappings write (what validation needs metadata for)."""
    from bridge.processing.mapping import default_mappings_dir, load_mappings  # noqa: PLC0415

    schemas_dir = settings.processor.schemas_dir
    mappings = load_mappings(schemas_dir / "mappings" if schemas_dir else default_mappings_dir())
    return sorted(mappings.sobjects)


async def read_org_snapshot(client: SalesforceClient, settings: Settings, sobjects: Sequence[str] = ()) -> OrgSnapshot:
    """Describe, validation rules and triggers of `sobjects` (default: the mapped ones), through `client`."""
    from bridge.catalog.fetch import fetch_snapshot  # noqa: PLC0415

    async with client:
        return await fetch_snapshot(client, sobjects or mapped_sobjects(settings))


async def fetch_org_snapshot(settings: Settings, out: Path | None = None) -> Path:
    """Read the mapped SObjects' metadata into a snapshot folder (what the processor validates against)."""
    from bridge.catalog.snapshot import write_snapshot  # noqa: PLC0415

    folder = out or Path(tempfile.mkdtemp(prefix="crm-bridge-org-"))
    snapshot = await read_org_snapshot(salesforce_client(settings), settings)
    write_snapshot(folder, snapshot)
    log.info("org snapshot of %d SObject(s) written to %s", len(snapshot.describes), folder)
    return folder


class ClientCredentials:
    """The Pub/Sub API credentials: the client's OAuth session, refreshed when the Pub/Sub API refuses it, with the
    org id (`tenantid`) and the session's user id (a published event's CreatedById) read once from `userinfo`."""

    def __init__(self, client: SalesforceClient, tenant_id: str | None) -> None:
        self._client = client
        self._tenant_id = tenant_id
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(tenant_id={self._tenant_id!r}, user_id={self._user_id!r})"

    async def __call__(self, refresh: bool) -> Credentials:
        session = await self._client.session(refresh=refresh)
        if self._user_id is None:
            info = (await self._client.request("userinfo", "GET", "/services/oauth2/userinfo")).json()
            self._user_id = str(info.get("user_id", ""))
            self._tenant_id = self._tenant_id or str(info.get("organization_id", "")) or None
            if self._tenant_id is None:
                raise ConfigError("cannot read the org id (set BRIDGE_SOURCE__TENANT_ID)")
        tenant_id = self._tenant_id or ""
        return Credentials(session.access_token.get_secret_value(), session.instance_url, tenant_id, self._user_id)


class SinkWriter:
    """The sink's writer: records through the REST client, Platform Events over the Pub/Sub API's PublishStream."""

    def __init__(self, client: SalesforceClient, events: EventPublisher) -> None:
        self._client = client
        self._events = events

    def __repr__(self) -> str:
        return f"SinkWriter({self._events!r})"

    async def upsert_collection(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]], all_or_none: bool
    ) -> list[SaveResult]:
        return await self._client.upsert_collection(sobject, external_id_field, records, all_or_none)

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> SaveResult:
        return await self._client.create(sobject, fields)

    def query(self, soql: str, *, batch_size: int | None = None) -> AsyncIterator[dict[str, Any]]:
        return self._client.query(soql, batch_size=batch_size)

    async def delete_collection(self, ids: Sequence[str], all_or_none: bool) -> list[SaveResult]:
        return await self._client.delete_collection(ids, all_or_none)

    async def bulk_upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        poll_interval_s: float = 1.0,
        max_poll_interval_s: float = 30.0,
    ) -> BulkResult:
        return await self._client.bulk_upsert(
            sobject,
            external_id_field,
            records,
            poll_interval_s=poll_interval_s,
            max_poll_interval_s=max_poll_interval_s,
        )

    async def publish_events(self, sobject: str, events: Sequence[OutgoingEvent]) -> list[EventOutcome]:
        return await self._events.publish_events(sobject, events)


class QueryReconciler:
    """Reads current record state through SOQL when change events were lost (gaps, expired replay ids).

    An entity's fields are described the first time it is reconciled, not at start: a source that never needs
    a reconciliation spends no API calls on it."""

    def __init__(self, client: SalesforceClient, fields: dict[str, Sequence[str]] | None = None) -> None:
        self._client = client
        self._fields = dict(fields or {})

    async def _select(self, entity: str) -> str:
        if not set(entity) <= _API_NAME_CHARS:
            raise ValueError(f"{entity!r} is not an API name")
        if entity not in self._fields:
            self._fields[entity] = [f["name"] for f in (await self._client.describe(entity)).get("fields", [])]
        names = ["Id", *(f for f in self._fields[entity] if f != "Id" and set(f) <= _API_NAME_CHARS)]
        return f"SELECT {', '.join(names)} FROM {entity}"  # noqa: S608 - API names checked above

    async def changed_since(self, entity: str, since_ms: int) -> list[dict[str, Any]]:
        """Every record of `entity` modified at or after `since_ms` (epoch milliseconds)."""
        from datetime import UTC, datetime  # noqa: PLC0415

        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        soql = f"{await self._select(entity)} WHERE SystemModstamp >= {since}"
        return [_plain(row) async for row in self._client.query(soql)]

    async def read(self, entity: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The named records of `entity`, 200 ids per query."""
        rows: list[dict[str, Any]] = []
        for start in range(0, len(record_ids), 200):
            ids = [i for i in record_ids[start : start + 200] if set(i) <= _API_NAME_CHARS]
            if not ids:
                continue
            quoted = ", ".join(f"'{i}'" for i in ids)
            soql = f"{await self._select(entity)} WHERE Id IN ({quoted})"
            rows.extend([_plain(row) async for row in self._client.query(soql)])
        return rows


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "attributes"}


async def run_source(settings: Settings, metrics: Metrics, stop: asyncio.Event) -> None:
    """The source role: Pub/Sub API channels into Kafka with replay-id checkpoints in the same transaction."""
    from bridge.runtime.serving import serving  # noqa: PLC0415
    from bridge.source.runner import run_source as pump_channels  # noqa: PLC0415

    async with salesforce_client(settings, metrics) as client, serving(settings, metrics, {}):
        entities = {entity_of_channel(channel) for channel in settings.source.channels}
        await pump_channels(
            settings,
            credentials=ClientCredentials(client, settings.source.tenant_id),
            reconciler=QueryReconciler(client),
            reconcile_entities=sorted(e for e in entities if e is not None),
            metrics=metrics,
            stop=stop,
        )


async def run_sink(settings: Settings, metrics: Metrics, stop: asyncio.Event) -> None:
    """The sink role: write topics → governor → Salesforce → results/DLQ → offset commits. Platform Events go out
    over the Pub/Sub API (its channel connects on the first event, so a deployment without any never dials it)."""
    from bridge.runtime.serving import serving  # noqa: PLC0415
    from bridge.sink.runner import build_gate  # noqa: PLC0415
    from bridge.sink.runner import run_sink as sink_loop  # noqa: PLC0415

    gate = build_gate(settings, metrics)
    async with salesforce_client(settings, metrics, gate.observe) as client, serving(settings, metrics, {}):
        credentials = ClientCredentials(client, settings.source.tenant_id)
        pubsub = PubSubClient(settings.source.pubsub_target, credentials=credentials, tls=settings.source.pubsub_tls)
        async with pubsub:
            publisher = EventPublisher(pubsub)
            try:
                stats = await sink_loop(settings, SinkWriter(client, publisher), gate, stop, metrics=metrics)
            finally:
                await publisher.aclose()
    log.info("sink stopped: %s", stats)
