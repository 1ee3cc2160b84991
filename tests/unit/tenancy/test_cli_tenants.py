from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.cli.main import app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


def check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["tenants", "check", str(path)])
    return result.exit_code, result.output


def variant(world: DemoWorld, name: str, change: dict[str, object]) -> Path:
    document = yaml.safe_load(world.tenants_file.read_text())
    document["tenants"][0]["certificates"]["signing"].update(change)
    path = world.directory / name
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_good_tenants_file_reports_certificates_and_passes(world: DemoWorld) -> None:
    code, output = check(world.tenants_file)
    assert code == 0, output
    assert "bergen: Bergen kommune (4601), HER 91001/91002, validation" in output
    assert "signing: bergen 964338531" in output
    assert "days to expiry" in output
    assert output.rstrip().endswith("ok")


def test_wrong_key_usage_is_reported(world: DemoWorld) -> None:
    wrong = variant(
        world,
        "wrong-usage.yaml",
        {"certificate": "pki/bergen-enc.pem", "key": "pki/bergen-enc.key"},
    )
    code, output = check(wrong)
    assert code == 1
    assert "tenant bergen: certificates.signing" in output
    assert "nonRepudiation" in output


def test_missing_key_file_is_reported(world: DemoWorld) -> None:
    code, output = check(variant(world, "missing.yaml", {"key": "pki/absent.key"}))
    assert code == 1
    assert "tenant bergen: certificates.signing" in output


def test_new_key_prints_a_key_and_its_hash() -> None:
    result = CliRunner().invoke(app, ["tenants", "new-key"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    key = lines[0].rsplit(" ", 1)[-1]
    digest = lines[1].rsplit(" ", 1)[-1]
    assert key.startswith("kprgw_")
    assert hashlib.sha256(key.encode()).hexdigest() == digest
