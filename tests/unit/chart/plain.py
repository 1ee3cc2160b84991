"""The plain manifests of ``k8s/`` as the chart renders them, and how the two are compared.

The kustomize base is the chart's rendering with default values, one file per service,
without Helm's own labels, the tenants ConfigMap and its checksum annotation: an overlay
generates the ConfigMap (kustomize's hash suffix then rolls the pods, as the checksum does).
``KPRGW_UPDATE_GOLDEN=1`` rewrites the generated files from the chart.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from tests.unit.chart.rendering import GATEWAY_SERVICES, Manifest, component

HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
CHECKSUM_ANNOTATION = "checksum/tenants"
TENANTS_KEY = "tenants.yaml"
KIND_ORDER: tuple[str, ...] = ("ServiceAccount", "ConfigMap", "Service", "Deployment")
KIND_ORDER += ("PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy")
GENERATED_HEADER = (
    "# Generated from charts/kpr-gateway by tests/unit/chart/test_k8s_manifests.py; do not edit.\n"
    "# Regenerate: KPRGW_UPDATE_GOLDEN=1 uv run pytest tests/unit/chart/test_k8s_manifests.py\n"
)
_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def is_helm_hook(manifest: Manifest) -> bool:
    """`helm test`'s objects (and any other hook): Helm's alone, kustomize has no such step."""
    return "helm.sh/hook" in (manifest["metadata"].get("annotations") or {})


def without_helm_markers(manifest: Manifest) -> Manifest:
    """A copy without Helm's labels and the tenants checksum (kustomize has neither)."""
    clean = copy.deepcopy(manifest)
    for metadata in _metadatas(clean):
        labels = metadata.get("labels") or {}
        for label in HELM_ONLY_LABELS:
            labels.pop(label, None)
        annotations = metadata.get("annotations") or {}
        annotations.pop(CHECKSUM_ANNOTATION, None)
    return clean


def base_objects(rendered: Iterable[Manifest]) -> dict[str, list[Manifest]]:
    """The kustomize base: each gateway service's objects, in a stable order."""
    by_service: dict[str, list[Manifest]] = {service: [] for service in GATEWAY_SERVICES}
    for manifest in rendered:
        service = component(manifest)
        if service in by_service:
            by_service[service].append(without_helm_markers(manifest))
    for objects in by_service.values():
        objects.sort(key=lambda m: KIND_ORDER.index(m["kind"]))
    return by_service


def comparable(manifest: Manifest) -> Manifest:
    """A form in which a chart rendering and a kustomize build of the same thing are equal:
    no Helm markers, no namespace, no hash suffix on generated ConfigMaps, and lists of named
    items (env, volumes, mounts, ports, ...) in name order."""
    clean = without_helm_markers(manifest)
    clean["metadata"].pop("namespace", None)
    if clean["kind"] == "ConfigMap":
        clean["metadata"]["name"] = _HASH_SUFFIX.sub("", clean["metadata"]["name"])
        data = clean.get("data", {})
        if TENANTS_KEY in data:  # the same file, written by hand or by the chart
            data[TENANTS_KEY] = yaml.safe_load(data[TENANTS_KEY])
    for volume in clean.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = _HASH_SUFFIX.sub("", volume["configMap"]["name"])
    ordered: Manifest = _sorted_named_lists(clean)
    return ordered


def _sorted_named_lists(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _sorted_named_lists(value) for key, value in node.items()}
    if isinstance(node, list):
        items = [_sorted_named_lists(value) for value in node]
        if items and all(isinstance(item, dict) and "name" in item for item in items):
            return sorted(items, key=lambda item: str(item["name"]))
        return items
    return node


def _metadatas(manifest: Manifest) -> list[dict[str, Any]]:
    found = [manifest["metadata"]]
    template = manifest.get("spec", {}).get("template")
    if isinstance(template, dict) and "metadata" in template:
        found.append(template["metadata"])
    return found


class _IndentedDumper(yaml.SafeDumper):
    """Block sequences indented under their key, as in the chart's own output."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump(manifests: Sequence[Manifest]) -> str:
    body = yaml.dump_all(
        manifests,
        Dumper=_IndentedDumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        width=100,
    )
    return GENERATED_HEADER + body
