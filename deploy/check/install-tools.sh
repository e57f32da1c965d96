#!/usr/bin/env bash
# Installs the pinned tools the deployment checks use, into .cache/tools (gitignored), only when missing:
# helm and kubeconform (Go module proxy), the Compose Specification's JSON Schema (the compose-go module),
# and Prometheus with promtool (Debian package).
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM_VERSION=v3.19.3
KUBECONFORM_VERSION=v0.6.7
COMPOSE_GO_VERSION=v2.16.2
TOOLS=.cache/tools
mkdir -p "$TOOLS/bin"
export GOBIN="$PWD/$TOOLS/bin" GOFLAGS=-buildvcs=false

if [ ! -x "$TOOLS/bin/helm" ] || ! "$TOOLS/bin/helm" version --short | grep -q "$HELM_VERSION"; then
  echo "installing helm $HELM_VERSION"
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
if [ ! -x "$TOOLS/bin/kubeconform" ]; then
  echo "installing kubeconform $KUBECONFORM_VERSION"
  go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi
if [ ! -f "$TOOLS/compose-spec.json" ]; then
  dir=$(go mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp "$dir/schema/compose-spec.json" "$TOOLS/compose-spec.json"
fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "installing prometheus (Debian package) for promtool and a real server"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
