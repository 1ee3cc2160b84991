"""helm lint --strict and yamllint: the chart, its example values, k8s/ and skaffold.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.chart.rendering import (
    CHART_DIR,
    CI_VALUES_DIR,
    K8S_DIR,
    REPO_ROOT,
    helm,
    render_text,
)

VALUES_FILES = sorted(path.name for path in CI_VALUES_DIR.glob("*.yaml"))

# yamllint's defaults, less what Helm's output does on purpose: no `---` at the top of each
# source file, block sequences indented or not (toYaml does not indent them), and long lines
# where a value is long (in rendered output the values decide: an OTLP attribute list).
_RULES = {
    "document-start": "disable",
    "line-length": {"max": 160},
    "indentation": {"spaces": 2, "indent-sequences": "whatever"},
    "truthy": {"check-keys": False},
    "comments": {"min-spaces-from-content": 1},
}
SOURCE_CONFIG = json.dumps({"extends": "default", "rules": _RULES})
RENDERED_CONFIG = json.dumps({"extends": "default", "rules": {**_RULES, "line-length": "disable"}})


def yamllint(paths: list[Path], config: str = SOURCE_CONFIG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-f", "parsable", "-d", config]
        + [str(path) for path in paths],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def test_the_examples_are_the_ones_the_checks_expect() -> None:
    assert VALUES_FILES == [
        "bundled-redis-values.yaml",
        "dev-values.yaml",
        "full-values.yaml",
        "validation-values.yaml",
    ]


@pytest.mark.parametrize("values_file", [None, *VALUES_FILES])
def test_helm_lint_strict_is_clean(values_file: str | None) -> None:
    args: list[str | Path] = ["lint", "--strict", CHART_DIR]
    if values_file is not None:
        args += ["--values", CI_VALUES_DIR / values_file]
    result = helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout


def test_yaml_sources_pass_yamllint() -> None:
    sources = [
        CHART_DIR / "Chart.yaml",
        CHART_DIR / "values.yaml",
        *sorted(CI_VALUES_DIR.glob("*.yaml")),
        *sorted(K8S_DIR.rglob("*.yaml")),
        REPO_ROOT / "skaffold.yaml",
    ]
    result = yamllint(sources)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values_file", [None, *VALUES_FILES])
def test_rendered_manifests_pass_yamllint(values_file: str | None, tmp_path: Path) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render_text((values_file,) if values_file else ()))
    result = yamllint([rendered], RENDERED_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_does_find_problems(tmp_path: Path) -> None:
    # The check above would pass on anything if the configuration switched yamllint off.
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: 1\na: 2\nlist:\n  - x \n")
    result = yamllint([broken], RENDERED_CONFIG)
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout
    assert "trailing-spaces" in result.stdout
