"""A client generated from the Pub/Sub API proto alone, in its own process, against the emulator over TLS."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import sys
from pathlib import Path

import httpx
import pytest

import bridge.pubsub
from bridge.emulator import EmulatorServer, Org

pytestmark = pytest.mark.timeout(90)

PROTO = Path(bridge.pubsub.__file__).with_name("pubsub_api.proto")
CLIENT = Path(__file__).with_name("independent_client.py")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def _token(server: EmulatorServer) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
    }
    async with httpx.AsyncClient(
        base_url=server.url, verify=ssl.create_default_context(cafile=str(server.certfile))
    ) as http:
        response = await http.post("/services/oauth2/token", data=form)
    return dict(response.raise_for_status().json())


async def test_independent_client_publishes_streams_and_subscribes_over_tls() -> None:
    """The proto: "The server returns a PublishResponse for each PublishRequest when publish is complete for the
    batch. A client does not have to wait for a PublishResponse before sending a new PublishRequest"; "PublishResult
    ... The result contains replay_id or a publish error" with the "Correlation key of the ProducerEvent"; TopicInfo
    holds the "Tenant/org GUID", "Is publishing allowed?", "Is subscription allowed?", the "ID of the current topic
    schema" and an "RPC ID used to trace errors". The docs: "For Pub/Sub API clients, the event id field contains
    the event UUID value." Transport: gRPC over HTTP/2 with TLS, as `api.pubsub.salesforce.com` serves it."""
    org = Org()
    async with EmulatorServer(org, tls=True, pubsub_port=0, pubsub_tls=True) as server:
        assert server.pubsub_target is not None
        token = await _token(server)
        env = {
            **os.environ,
            "SF_ACCESS_TOKEN": token["access_token"],
            "SF_INSTANCE_URL": token["instance_url"],
            "SF_TENANT_ID": org.profile.org_id,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CLIENT),
            str(PROTO),
            server.pubsub_target,
            str(server.certfile),
            "/event/Order_Event__e",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)

    topic = report["topic"]
    assert topic["topic_name"] == "/event/Order_Event__e"
    assert topic["tenant_guid"] == org.profile.org_id
    assert topic["can_publish"] is True
    assert topic["can_subscribe"] is True
    assert topic["schema_id"]
    assert UUID.match(topic["rpc_id"])
    assert report["schema"]["schema_id"] == topic["schema_id"]

    unary = report["publish"]
    assert unary["schema_id"] == topic["schema_id"]
    assert UUID.match(unary["rpc_id"])
    assert [r["error"] for r in unary["results"]] == [None, None]
    given, generated = (r["correlation_key"] for r in unary["results"])
    assert UUID.match(given)
    assert UUID.match(generated)

    streamed = report["publish_stream"]
    assert len(streamed) == 3  # one response per request, in order
    assert all(len(r["results"]) == 1 and r["results"][0]["replay_id"] for r in streamed)
    published = [*unary["results"], *(r["results"][0] for r in streamed)]

    delivered = report["subscribe"]
    assert [e["Order_Number__c"] for e in delivered] == ["U-1", "U-2", "S-0", "S-1", "S-2"]
    assert [e["id"] for e in delivered] == [p["correlation_key"] for p in published]
    assert [e["replay_id"] for e in delivered] == [p["replay_id"] for p in published]
    assert all(UUID.match(e["id"]) and UUID.match(e["rpc_id"]) for e in delivered)
    assert delivered[-1]["pending_num_requested"] == 0
