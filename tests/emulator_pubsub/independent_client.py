"""A Pub/Sub API client that knows nothing of the bridge: stubs generated from the proto at run time, then the calls
a Salesforce sample makes (GetTopic, GetSchema, Publish, PublishStream, Subscribe), reported as JSON on stdout.

Run in its own process, so its generated `eventbus.v1` messages never meet the bridge's in one descriptor pool:

    python independent_client.py PROTO TARGET CAFILE TOPIC   (token, instance URL and org id in the environment)

It imports only grpcio, grpcio-tools and fastavro.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import queue
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def generate(proto: Path, out: Path) -> tuple[Any, Any]:
    """`protoc` the proto into `out` and import the two generated modules."""
    from grpc_tools import protoc

    shutil.copy(proto, out / "pubsub_api.proto")
    code = protoc.main(["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}", "pubsub_api.proto"])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    sys.path.insert(0, str(out))
    return importlib.import_module("pubsub_api_pb2"), importlib.import_module("pubsub_api_pb2_grpc")


def main(proto: str, target: str, cafile: str, topic: str) -> dict[str, Any]:
    import fastavro
    import grpc

    with tempfile.TemporaryDirectory() as out:
        pb, pb_grpc = generate(Path(proto), Path(out))
        metadata = (
            ("accesstoken", os.environ["SF_ACCESS_TOKEN"]),
            ("instanceurl", os.environ["SF_INSTANCE_URL"]),
            ("tenantid", os.environ["SF_TENANT_ID"]),
        )
        credentials = grpc.ssl_channel_credentials(root_certificates=Path(cafile).read_bytes())
        with grpc.secure_channel(target, credentials) as channel:
            stub = pb_grpc.PubSubStub(channel)
            report: dict[str, Any] = {}
            info = stub.GetTopic(pb.TopicRequest(topic_name=topic), metadata=metadata)
            report["topic"] = {
                "topic_name": info.topic_name,
                "tenant_guid": info.tenant_guid,
                "can_publish": info.can_publish,
                "can_subscribe": info.can_subscribe,
                "schema_id": info.schema_id,
                "rpc_id": info.rpc_id,
            }
            schema_info = stub.GetSchema(pb.SchemaRequest(schema_id=info.schema_id), metadata=metadata)
            report["schema"] = {"schema_id": schema_info.schema_id, "rpc_id": schema_info.rpc_id}
            schema = fastavro.parse_schema(json.loads(schema_info.schema_json))

            def event(number: str, event_id: str = "") -> Any:
                buffer = io.BytesIO()
                record = {"CreatedDate": int(time.time() * 1000), "CreatedById": "005xx", "Order_Number__c": number}
                fastavro.schemaless_writer(buffer, schema, record)
                return pb.ProducerEvent(id=event_id, schema_id=info.schema_id, payload=buffer.getvalue())

            unary = stub.Publish(
                pb.PublishRequest(topic_name=topic, events=[event("U-1", str(uuid.uuid4())), event("U-2")]),
                metadata=metadata,
            )
            report["publish"] = _response(unary)
            requests: queue.Queue[Any] = queue.Queue()
            for n in range(3):  # pipelined: all sent before the first answer is read
                requests.put(pb.PublishRequest(topic_name=topic if n == 0 else "", events=[event(f"S-{n}")]))
            requests.put(None)
            stream = stub.PublishStream(iter(requests.get, None), metadata=metadata)
            report["publish_stream"] = [_response(response) for response in stream]
            report["subscribe"] = _subscribe(pb, stub, topic, metadata, schema)
    return report


def _response(response: Any) -> dict[str, Any]:
    return {
        "schema_id": response.schema_id,
        "rpc_id": response.rpc_id,
        "results": [
            {
                "replay_id": response_result.replay_id.hex(),
                "correlation_key": response_result.correlation_key,
                "error": response_result.error.msg if response_result.HasField("error") else None,
            }
            for response_result in response.results
        ],
    }


def _subscribe(pb: Any, stub: Any, topic: str, metadata: Any, schema: Any) -> list[dict[str, Any]]:
    import fastavro

    first = pb.FetchRequest(topic_name=topic, replay_preset=pb.ReplayPreset.EARLIEST, num_requested=5)
    delivered: list[dict[str, Any]] = []
    call = stub.Subscribe(iter([first]), metadata=metadata)
    for response in call:
        for consumer_event in response.events:
            decoded = fastavro.schemaless_reader(io.BytesIO(consumer_event.event.payload), schema, None)
            delivered.append(
                {
                    "id": consumer_event.event.id,
                    "replay_id": consumer_event.replay_id.hex(),
                    "Order_Number__c": decoded["Order_Number__c"],
                    "rpc_id": response.rpc_id,
                    "latest_replay_id": response.latest_replay_id.hex(),
                    "pending_num_requested": response.pending_num_requested,
                }
            )
        if len(delivered) >= 5:
            call.cancel()
            break
    return delivered


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
