"""skaffold.yaml, the Dockerfile and .dockerignore name what exists: the services, the chart,
its values and the workspace's uv pin."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml

from tests.unit.chart.rendering import (
    CHART_DIR,
    REPO_ROOT,
    SERVICES,
    container,
    deployments,
    render,
)

SKAFFOLD: dict[str, Any] = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def service_folders() -> set[str]:
    return {path.parent.name for path in (REPO_ROOT / "services").glob("*/pyproject.toml")}


def releases(section: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = section["helm"]["releases"]
    return found


def test_the_services_are_the_ones_the_chart_deploys() -> None:
    assert service_folders() == set(SERVICES)


def test_skaffold_builds_one_artifact_per_service_from_the_one_dockerfile() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4")
    artifacts = SKAFFOLD["build"]["artifacts"]
    assert [a["image"] for a in artifacts] == [f"kpr-gateway-{s}" for s in SERVICES]
    for artifact in artifacts:
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == "Dockerfile"
        assert (REPO_ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
        service = artifact["docker"]["buildArgs"]["SERVICE"]
        assert artifact["image"] == f"kpr-gateway-{service}"
        assert (REPO_ROOT / "services" / service / "pyproject.toml").is_file()


def every_release() -> list[tuple[str, dict[str, Any]]]:
    found = [("default", release) for release in releases(SKAFFOLD["deploy"])]
    for profile in SKAFFOLD["profiles"]:
        found += [(profile["name"], release) for release in releases(profile["deploy"])]
    return found


@pytest.mark.parametrize(
    ("profile", "release"), every_release(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_skaffold_deploys_the_chart_with_the_images_it_built(
    profile: str, release: dict[str, Any]
) -> None:
    assert (REPO_ROOT / release["chartPath"]).resolve() == CHART_DIR
    for values_file in release.get("valuesFiles", []):
        assert (REPO_ROOT / values_file).is_file(), values_file
    expected = {}
    for service in SERVICES:
        key = f"kpr_gateway_{service}"  # skaffold's template name for image kpr-gateway-<service>
        expected[f"{service}.image.repository"] = f"{{{{.IMAGE_REPO_{key}}}}}"
        expected[f"{service}.image.tag"] = f"{{{{.IMAGE_TAG_{key}}}}}@{{{{.IMAGE_DIGEST_{key}}}}}"
    assert release["setValueTemplates"] == expected, profile


def test_the_set_image_values_reach_the_deployments() -> None:
    sets = []
    for service in SERVICES:
        sets += [
            f"{service}.image.repository=registry.local/{service}",
            f"{service}.image.tag=t1@sha256:ab",
        ]
    rendered = deployments(render(("dev-values.yaml",), tuple(sets)))
    assert {s: container(d)["image"] for s, d in rendered.items()} == {
        s: f"registry.local/{s}:t1@sha256:ab" for s in SERVICES
    }


def test_skaffold_profiles_dev_with_the_simulator_and_validation() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    assert set(profiles) == {"dev", "validation"}
    [dev] = releases(profiles["dev"]["deploy"])
    dev_values = yaml.safe_load((REPO_ROOT / dev["valuesFiles"][0]).read_text())
    assert dev_values["simulator"]["enabled"] is True
    assert dev["namespace"] == profiles["dev"]["deploy"]["kubectl"]["defaultNamespace"]
    for manifest in profiles["dev"]["manifests"]["rawYaml"]:
        assert (REPO_ROOT / manifest).is_file()
    [validation] = releases(profiles["validation"]["deploy"])
    values = yaml.safe_load((REPO_ROOT / validation["valuesFiles"][0]).read_text())
    assert values["nhn"]["environment"] == "validation"
    assert not values.get("simulator", {}).get("enabled", False)


def test_the_dockerfile_builds_the_service_named_by_its_argument() -> None:
    build = next(stage for stage in STAGES if stage.split()[2] == "build")
    assert "ARG SERVICE\n" in build
    dependencies = (
        'uv sync --locked --no-dev --no-install-workspace --package "kpr-gateway-${SERVICE}"'
    )
    project = 'uv sync --locked --no-dev --no-editable --package "kpr-gateway-${SERVICE}"'
    assert build.index(dependencies) < build.index("COPY . .") < build.index(project)


def test_the_dockerfile_pins_the_uv_the_makefile_installs() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    [pinned] = re.findall(r'"uv==([0-9.]+)"', makefile)
    assert f"ARG UV_VERSION={pinned}\n" in DOCKERFILE


def test_the_runtime_is_slim_and_runs_as_a_user() -> None:
    runtime = STAGES[-1]
    assert runtime.split()[2] == "runtime"
    assert "apt-get" not in runtime
    assert "build-essential" not in runtime
    assert "COPY --from=build /app/.venv /app/.venv" in runtime
    assert "COPY . ." not in runtime  # no sources, only the virtual environment
    [user] = re.findall(r"^USER (\S+)$", runtime, re.M)
    uid, gid = user.split(":")
    assert int(uid) > 0
    assert int(gid) > 0
    assert "pip uninstall" in runtime
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", runtime, re.M)
    assert 'exec python -m \\"kpr_gateway.${KPRGW_SERVICE}\\"' in entrypoint
    assert "KPRGW_SERVICE=${SERVICE}" in runtime


def test_the_python_of_the_image_is_the_one_the_workspace_needs() -> None:
    [image] = re.findall(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim", DOCKERFILE, re.M)
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"][
        "python_version"
    ]
    assert image == requires


def test_dockerignore_keeps_the_build_context_to_the_sources() -> None:
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".tools", "tests", "charts", "k8s"} <= ignored
    for needed in ("libs", "services", "cli", "uv.lock", "pyproject.toml"):
        assert needed not in ignored


def test_the_dockerfile_needs_no_frontend_image() -> None:
    # BuildKit's built-in frontend reads RUN --mount; a `# syntax=` line would pull one.
    assert not re.search(r"^#\s*syntax\s*=", DOCKERFILE, re.M | re.I)
    assert "RUN --mount=type=cache" in DOCKERFILE


def test_the_base_image_is_an_argument_to_pin_by_digest() -> None:
    preamble = DOCKERFILE.split("\nFROM ", 1)[0]
    [default] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", preamble, re.M)
    assert "@sha256:" not in default  # a digest is the builder's to give, never made up here
    assert "--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>" in preamble
    assert [stage.split()[0] for stage in STAGES] == ["${PYTHON_IMAGE}"] * len(STAGES)


LABELS = {"source": "SOURCE", "revision": "REVISION", "version": "VERSION", "created": "CREATED"}


def test_the_runtime_carries_oci_labels_from_build_arguments() -> None:
    runtime = STAGES[-1]
    for label, argument in LABELS.items():
        assert f'org.opencontainers.image.{label}="${{{argument}}}"' in runtime, label
        assert re.search(rf"^ARG {argument}(=.*)?$", runtime, re.M), argument
    assert 'org.opencontainers.image.base.name="${PYTHON_IMAGE}"' in runtime
    # After the last layer that does work: a new revision or build time rebuilds nothing.
    last_work = max(runtime.rfind("\nRUN "), runtime.rfind("\nCOPY "))
    assert all(runtime.index(f"\nARG {argument}") > last_work for argument in LABELS.values())


def test_the_image_exposes_the_ports_the_chart_uses() -> None:
    [exposed] = re.findall(r"^EXPOSE (.+)$", STAGES[-1], re.M)
    ports = {
        port["containerPort"]
        for deployment in deployments(render()).values()
        for port in container(deployment)["ports"]
    }
    assert ports == {int(port) for port in exposed.split()} == {8080, 9090}
