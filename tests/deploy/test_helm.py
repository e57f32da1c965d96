"""The Helm chart lints, renders in every supported mode, and the rendered objects are valid Kubernetes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, K8S_VERSION, tool

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "hpa-lag": ["autoscaling.mode=hpa", "autoscaling.hpa.metric=lag"],
    "hpa-cpu": ["autoscaling.mode=hpa", "autoscaling.hpa.metric=cpu"],
    "keda-everything": [
        "autoscaling.mode=keda",
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "grafanaDashboard.enabled=true",
        "roles.ingest.enabled=true",
        "ingest.tokensSecret=crm-bridge-ingest-tokens",
        "ingest.tls.secretName=crm-bridge-ingest-tls",
        "ingest.tls.clientCASecret=crm-bridge-ingest-client-ca",
        "salesforceSecret.privateKey=-----BEGIN PRIVATE KEY-----",
    ],
    "ingest-plain-no-network-policy": [
        "roles.ingest.enabled=true",
        "ingest.tokensSecret=crm-bridge-ingest-tokens",
        "networkPolicy.enabled=false",
    ],
}
CRD_KINDS = {"ScaledObject", "ServiceMonitor", "PrometheusRule"}


def render(sets: list[str]) -> list[dict[str, Any]]:
    args = [tool("helm"), "template", "release", str(CHART)]
    for item in sets:
        args += ["--set", item]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_chart_lints_strictly() -> None:
    result = subprocess.run([tool("helm"), "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_objects_pass_kubeconform(name: str, k8s_schema_dir: Path, tmp_path: Path) -> None:
    docs = [d for d in render(VALUE_SETS[name]) if d["kind"] not in CRD_KINDS]
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    location = str(k8s_schema_dir) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
    location += "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    args = [tool("kubeconform"), "-strict", "-summary", "-kubernetes-version", K8S_VERSION[1:]]
    result = subprocess.run([*args, "-schema-location", location, str(manifest)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {len(docs)}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


def test_one_deployment_per_enabled_role_with_probes_and_restrictive_security() -> None:
    docs = render(VALUE_SETS["keda-everything"])
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"processor", "sink", "source", "ingest"}
    for role, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["args"] == ["run", role]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]
    assert deployments["source"]["spec"]["strategy"]["type"] == "Recreate"


def test_lag_scaling_targets_each_consumer_group() -> None:
    keda = [d for d in render(VALUE_SETS["keda-everything"]) if d["kind"] == "ScaledObject"]
    groups = {t["metadata"]["consumerGroup"] for so in keda for t in so["spec"]["triggers"]}
    assert groups == {"crm-bridge-processor", "crm-bridge-sink"}
    hpas = [d for d in render(VALUE_SETS["hpa-lag"]) if d["kind"] == "HorizontalPodAutoscaler"]
    metrics = {m["external"]["metric"]["name"] for h in hpas for m in h["spec"]["metrics"]}
    assert metrics == {"bridge_consumer_lag_records"}
    assert not [d for d in render(VALUE_SETS["defaults"]) if d["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}]


def test_private_key_is_mounted_from_a_secret_never_put_in_the_configmap() -> None:
    docs = render(VALUE_SETS["keda-everything"])
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap" and "dashboard" not in d["metadata"]["name"]]
    assert "PRIVATE KEY" not in yaml.safe_dump(configmap)
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert "private-key" in secret["data"]
    sink = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-sink"))
    env = {e["name"]: e for e in sink["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BRIDGE_SALESFORCE__PRIVATE_KEY_FILE"]["value"] == "/var/run/secrets/crm-bridge/private-key"


def test_prometheus_rule_from_the_chart_passes_promtool(tmp_path: Path) -> None:
    (rule,) = [d for d in render(VALUE_SETS["keda-everything"]) if d["kind"] == "PrometheusRule"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def _deployment(docs: list[dict[str, Any]], role: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith(f"-{role}"))


def test_the_ingest_mounts_its_token_file_and_tls_as_directories_and_other_roles_do_not() -> None:
    docs = render(VALUE_SETS["keda-everything"])
    ingest = _deployment(docs, "ingest")["spec"]["template"]["spec"]
    (container,) = ingest["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    directory = "/var/run/secrets/crm-bridge-ingest"
    assert env["BRIDGE_INGEST__TOKENS_FILE"] == f"{directory}/tokens/tokens.json"
    assert env["BRIDGE_INGEST__TLS_CERT_FILE"] == f"{directory}/tls/tls.crt"
    assert env["BRIDGE_INGEST__TLS_CLIENT_CA_FILE"] == f"{directory}/client-ca/ca.crt"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    # A subPath mount never sees an updated Secret: the token file must be a directory mount to rotate live.
    assert all("subPath" not in m for m in mounts.values())
    assert mounts["ingest-tokens"]["mountPath"] == f"{directory}/tokens"
    assert mounts["ingest-tokens"]["readOnly"] is True
    volumes = {v["name"]: v for v in ingest["volumes"]}
    assert volumes["ingest-tokens"]["secret"] == {
        "secretName": "crm-bridge-ingest-tokens",
        "defaultMode": 0o400,
        "items": [{"key": "tokens.json", "path": "tokens.json"}],
    }
    assert volumes["ingest-tls"]["secret"]["defaultMode"] == 0o400
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap" and "dashboard" not in d["metadata"]["name"]]
    assert configmap["data"]["BRIDGE_INGEST__AUTH"] == "required"
    sink = _deployment(docs, "sink")["spec"]["template"]["spec"]
    assert not [v for v in sink["volumes"] if v["name"].startswith("ingest-")]
    assert not [e for e in sink["containers"][0]["env"] if e["name"].startswith("BRIDGE_INGEST__")]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["roles.ingest.enabled=true"], "needs ingest.tokensSecret"),
        (
            ["roles.ingest.enabled=true", "ingest.tokensSecret=t", "ingest.tls.clientCASecret=ca"],
            "needs ingest.tls.secretName",
        ),
    ],
)
def test_an_ingest_without_credentials_does_not_render(sets: list[str], message: str) -> None:
    args = [tool("helm"), "template", "release", str(CHART)]
    for item in sets:
        args += ["--set", item]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode != 0
    assert message in result.stderr


def test_network_policies_admit_ingest_from_labelled_namespaces_and_metrics_from_monitoring_only() -> None:
    docs = render(VALUE_SETS["keda-everything"])
    policies = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {"processor", "sink", "source", "ingest"}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    labelled = {"namespaceSelector": {"matchLabels": {"crm-bridge.io/ingest": "allowed"}}}
    for role, policy in policies.items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == role
        rules = [(rule["from"], [p["port"] for p in rule["ports"]]) for rule in spec["ingress"]]
        expected = [([monitoring], ["metrics"])] + ([([labelled], ["ingest"])] if role == "ingest" else [])
        assert rules == expected
    ports = {p["name"] for p in _deployment(docs, "ingest")["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports == {"metrics", "ingest"}  # the policies name these container ports
    assert not [d for d in render(VALUE_SETS["ingest-plain-no-network-policy"]) if d["kind"] == "NetworkPolicy"]
