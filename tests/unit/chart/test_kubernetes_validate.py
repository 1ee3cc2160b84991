"""Every rendered object and every k8s/ manifest against Kubernetes' own schemas, strictly
(unknown fields are errors), offline with kubernetes-validate's bundled schemas.

kubernetes-validate has no schemas for the Prometheus Operator's kinds; those are checked
field by field in test_observability.py, and only they may be missing here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.unit.chart.rendering import (
    CI_VALUES_DIR,
    K8S_DIR,
    KUBERNETES_VERSIONS,
    Manifest,
    documents,
    kustomize,
    render,
)

OPERATOR_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
VALUES_SETS = [(), *[(path.name,) for path in sorted(CI_VALUES_DIR.glob("*.yaml"))]]


@pytest.fixture(autouse=True, scope="module")
def _schemas_read_once() -> Iterator[None]:
    """kubernetes-validate reads its JSON schema files (MBs) again on every call; reading
    each once keeps the hundreds of validations here within a few seconds."""
    with pytest.MonkeyPatch.context() as patch:
        cached = functools.cache(kubernetes_validate.utils.schema_contents)
        patch.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield


def validate_all(manifests: Sequence[Manifest], version: str) -> list[str]:
    """Problems, one line each; an empty list when every object is valid."""
    problems = []
    for manifest in manifests:
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if (manifest["apiVersion"], manifest["kind"]) not in OPERATOR_KINDS:
                problems.append(f"{where}: no schema for {manifest['apiVersion']}")
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
    return problems


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values_files", VALUES_SETS, ids=lambda v: v[0] if v else "defaults")
def test_rendered_objects_are_valid(values_files: tuple[str, ...], version: str) -> None:
    manifests = render(values_files)
    assert manifests
    assert validate_all(manifests, version) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", ["base", "overlays/dev"])
def test_plain_manifests_are_valid(overlay: str, version: str) -> None:
    manifests = kustomize(K8S_DIR / overlay)
    assert manifests
    assert validate_all(manifests, version) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_file_in_k8s_is_valid_on_its_own(version: str) -> None:
    files = [path for path in sorted(K8S_DIR.rglob("*.yaml")) if path.name != "kustomization.yaml"]
    files = [path for path in files if "patches" not in path.parts and path.name != "tenants.yaml"]
    assert files
    for path in files:
        assert validate_all(documents(path.read_text()), version) == [], path


def test_validation_catches_a_wrong_field() -> None:
    # The checks above are only worth something if strict validation rejects a stray field.
    deployment = next(m for m in render() if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    problems = validate_all([deployment], KUBERNETES_VERSIONS[-1])
    assert len(problems) == 1
    assert "readinessProbes" in problems[0]
