#!/usr/bin/env bash
# Regenerates the Pub/Sub API stubs in _pb/ from pubsub_api.proto (run after editing the proto; output is committed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python -m grpc_tools.protoc -I"$here" --python_out="$here/_pb" --grpc_python_out="$here/_pb" --pyi_out="$here/_pb" \
  "$here/pubsub_api.proto"
sed -i 's/^import pubsub_api_pb2 as pubsub__api__pb2/from bridge.pubsub._pb import pubsub_api_pb2 as pubsub__api__pb2/' \
  "$here/_pb/pubsub_api_pb2_grpc.py"
