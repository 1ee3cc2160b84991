"""Running helm and kustomize offline, and reading what they render.

helm comes from ``.tools/bin/helm`` (``make tools`` installs it); ``kubectl kustomize``
renders the plain manifests. Renders are cached per argument list: the chart does not change
while the tests run.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
CHART_DIR = REPO_ROOT / "charts" / "kpr-gateway"
CI_VALUES_DIR = CHART_DIR / "ci"
K8S_DIR = REPO_ROOT / "k8s"
RELEASE = "kpr-gateway"

GATEWAY_SERVICES = ("intake", "transform", "envelope", "dispatch", "receipts", "webhooks")
SERVICES = (*GATEWAY_SERVICES, "simulator")
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
"""The oldest version the chart supports (Chart.yaml kubeVersion) and the newest one
kubernetes-validate knows."""

Manifest = dict[str, Any]


def helm_binary() -> Path:
    if not HELM.is_file():
        pytest.fail(f"helm not found at {HELM}: run `make tools`")
    return HELM


def run(command: Sequence[str | Path], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def helm(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([helm_binary(), *args], check=check)


def template_args(
    values_files: Sequence[str] = (), sets: Sequence[str] = (), release: str = RELEASE
) -> list[str | Path]:
    args: list[str | Path] = ["template", release, CHART_DIR, "--namespace", "kpr-gateway"]
    args += ["--kube-version", KUBERNETES_VERSIONS[-1]]
    for values_file in values_files:
        args += ["--values", CI_VALUES_DIR / values_file]
    for assignment in sets:
        args += ["--set", assignment]
    return args


@functools.cache
def render_text(values_files: tuple[str, ...] = (), sets: tuple[str, ...] = ()) -> str:
    return helm(*template_args(values_files, sets)).stdout


def render(values_files: tuple[str, ...] = (), sets: tuple[str, ...] = ()) -> list[Manifest]:
    """The objects ``helm template`` renders for these values files (in ``ci/``) and --set's;
    a fresh copy each time, so a test may change what it gets."""
    return copy.deepcopy(_parsed(values_files, sets))


@functools.cache
def _parsed(values_files: tuple[str, ...], sets: tuple[str, ...]) -> list[Manifest]:
    return documents(render_text(values_files, sets))


def render_failure(values_files: tuple[str, ...] = (), sets: tuple[str, ...] = ()) -> str:
    """helm template's error output for values that must be refused."""
    result = helm(*template_args(values_files, sets), check=False)
    assert result.returncode != 0, f"helm accepted values it must refuse: {sets}"
    return result.stderr


def documents(text: str) -> list[Manifest]:
    # libyaml's loader: the pure-Python one takes a third of a second per rendering
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]


@functools.cache
def kustomize_text(directory: Path) -> str:
    kubectl = str(KUBECTL) if KUBECTL.is_file() else shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(f"kubectl not found at {KUBECTL}: run `make tools`")
    return run([kubectl, "kustomize", directory]).stdout


def kustomize(directory: Path) -> list[Manifest]:
    return copy.deepcopy(_kustomized(directory))


@functools.cache
def _kustomized(directory: Path) -> list[Manifest]:
    return documents(kustomize_text(directory))


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: Sequence[Manifest], kind: str, name: str) -> Manifest:
    for manifest in of_kind(manifests, kind):
        if manifest["metadata"]["name"] == name:
            return manifest
    raise AssertionError(f"no {kind} {name} among {[m['metadata']['name'] for m in manifests]}")


def component(manifest: Manifest) -> str | None:
    labels: Mapping[str, str] = manifest["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


def deployments(manifests: Sequence[Manifest]) -> dict[str, Manifest]:
    """Deployments by the service they run."""
    found = {}
    for deployment in of_kind(manifests, "Deployment"):
        service = component(deployment)
        assert service is not None, deployment["metadata"]["name"]
        found[service] = deployment
    return found


def pod_spec(deployment: Manifest) -> Manifest:
    spec: Manifest = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_values(deployment: Manifest) -> dict[str, Manifest]:
    """The container's variables by name (each the whole EnvVar)."""
    return {variable["name"]: variable for variable in container(deployment).get("env", [])}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) below ``node``, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")
