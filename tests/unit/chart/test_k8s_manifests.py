"""k8s/ stays consistent with the chart.

- ``k8s/base/*.yaml`` and ``k8s/overlays/dev/simulator.yaml`` are the chart's own rendering
  (default values, and ci/dev-values.yaml for the simulator); regenerate them after a chart
  change with ``KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/chart/test_k8s_manifests.py``.
- ``kubectl kustomize k8s/overlays/dev`` (written by hand) renders the same objects as the
  chart with ci/dev-values.yaml, apart from the development brokers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.chart.plain import (
    KIND_ORDER,
    base_objects,
    comparable,
    dump,
    is_helm_hook,
    without_helm_markers,
)
from tests.unit.chart.rendering import (
    CI_VALUES_DIR,
    GATEWAY_SERVICES,
    K8S_DIR,
    Manifest,
    component,
    container,
    deployments,
    documents,
    kustomize,
    render,
)

UPDATE = os.environ.get("KPRGW_UPDATE_GOLDEN") == "1"
DEV = K8S_DIR / "overlays" / "dev"
DEV_VALUES = ("dev-values.yaml",)
BROKERS_LABEL = ("app.kubernetes.io/part-of", "kpr-gateway-dev-brokers")


def check_generated(path: Path, expected: list[Manifest]) -> None:
    if UPDATE:
        path.write_text(dump(expected))
    assert path.is_file(), f"missing {path}; run with KPRGW_UPDATE_GOLDEN=1 to create it"
    actual = documents(path.read_text())
    assert actual == expected, f"{path} differs from the chart; run with KPRGW_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("service", GATEWAY_SERVICES)
def test_the_base_is_the_chart_with_default_values(service: str) -> None:
    check_generated(K8S_DIR / "base" / f"{service}.yaml", base_objects(render())[service])


def test_the_base_lists_every_service_file() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "base" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [f"{service}.yaml" for service in GATEWAY_SERVICES]


def test_the_dev_simulator_is_the_chart_with_dev_values() -> None:
    expected = [without_helm_markers(m) for m in render(DEV_VALUES) if component(m) == "simulator"]
    expected.sort(key=lambda m: KIND_ORDER.index(m["kind"]))
    check_generated(DEV / "simulator.yaml", expected)


def is_broker(manifest: Manifest) -> bool:
    key, value = BROKERS_LABEL
    return bool(manifest["metadata"].get("labels", {}).get(key) == value)


def keyed(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    found = {}
    for manifest in manifests:
        clean = comparable(manifest)
        found[(clean["kind"], clean["metadata"]["name"])] = clean
    return found


def test_the_dev_overlay_renders_what_the_chart_renders_with_dev_values() -> None:
    overlay = keyed([m for m in kustomize(DEV) if not is_broker(m)])
    chart = keyed([m for m in render(DEV_VALUES) if not is_helm_hook(m)])
    assert sorted(overlay) == sorted(chart)
    for key, expected in chart.items():
        actual = overlay[key]
        if actual != expected:
            pytest.fail(
                f"{key} differs:\nchart:   {json.dumps(expected, sort_keys=True)}\n"
                f"overlay: {json.dumps(actual, sort_keys=True)}"
            )


def test_the_dev_overlay_rolls_pods_when_the_tenants_file_changes() -> None:
    manifests = kustomize(DEV)
    [configmap] = [
        m for m in manifests if m["kind"] == "ConfigMap" and "tenants" in m["metadata"]["name"]
    ]
    name = configmap["metadata"]["name"]
    assert re.fullmatch(r"kpr-gateway-tenants-[a-z0-9]{10}", name)  # content hash
    for manifest in manifests:
        if manifest["kind"] == "Deployment" and component(manifest) in GATEWAY_SERVICES:
            volumes = manifest["spec"]["template"]["spec"]["volumes"]
            assert {"name": "tenants", "configMap": {"name": name}} in volumes
            assert manifest["metadata"]["namespace"] == "kprgw-dev"


def dev_references() -> set[str]:
    """Every Secret and ConfigMap the dev release refers to (they must exist before the pods):
    the URL Secrets by their default names, and the rest as the dev values name them."""
    values = yaml.safe_load((CI_VALUES_DIR / "dev-values.yaml").read_text())
    names: set[str] = set()
    for deployment in deployments(render(DEV_VALUES)).values():
        for variable in container(deployment)["env"]:
            if variable["name"].endswith(("RABBITMQ_URL", "REDIS_URL")):
                names.add(variable["valueFrom"]["secretKeyRef"]["name"])
    names.add(values["nhn"]["passwordSecret"]["name"])
    for tenant in values["tenants"]:
        names |= {ref["name"] for ref in tenant["secrets"].values()}
    simulator = values["simulator"]
    names |= {simulator["credentialsSecret"]["name"], simulator["partiesConfigMap"]}
    names.add(simulator["amqp"]["passwordSecret"]["name"])
    return names


def test_the_dev_secrets_script_makes_everything_the_dev_namespace_names() -> None:
    script = DEV / "create-dev-secrets.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    made = set(
        re.findall(
            r"^apply (?:secret (?:generic|tls)|configmap) ([a-z0-9-]+)", script.read_text(), re.M
        )
    )
    assert made == dev_references()


def test_the_dev_broker_provides_the_nhn_queues_the_dev_release_uses() -> None:
    brokers = documents((DEV / "brokers.yaml").read_text())
    config = next(m for m in brokers if m["kind"] == "ConfigMap")
    definitions = json.loads(config["data"]["definitions.json"])
    queues = {queue["name"] for queue in definitions["queues"]}
    bound = {b["destination"] for b in definitions["bindings"] if b["source"] == "amq.direct"}
    values = yaml.safe_load((CI_VALUES_DIR / "dev-values.yaml").read_text())
    needed = set(values["simulator"]["settings"]["receiverQueues"])
    for tenant in values["tenants"]:
        her_id = tenant["communication_party"]["her_id"]
        needed |= {f"{her_id}_async", f"{her_id}_error"}
    assert queues == bound == needed
    # the user in dev-values.yaml and the password the script hands out are the broker's
    [user] = definitions["users"]
    assert values["nhn"]["url"].startswith(f"amqp://{user['name']}@kprgw-dev-rabbitmq:5672/")
    script = (DEV / "create-dev-secrets.sh").read_text()
    [password] = re.findall(r"kprgw-dev-nhn --from-literal=password=(\S+)", script)
    assert f"amqp://{user['name']}:{password}@kprgw-dev-rabbitmq:5672/" in script
    stored = base64.b64decode(user["password_hash"])  # RabbitMQ: salt (4 bytes) + SHA-256
    salt = stored[:4]
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert stored[4:] == hashlib.sha256(salt + password.encode()).digest()
