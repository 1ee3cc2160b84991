from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from typer.testing import CliRunner

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.cli.main import app
from kpr_gateway.cli.tenants import compare_with_registry
from kpr_gateway.registry import AddressRegistryClient
from kpr_gateway.simulator import (
    KeyFiles,
    known_sender,
    load_receiver_credentials,
    senders_from_tenants,
)
from kpr_gateway.simulator.registry import simulated_registry
from kpr_gateway.simulator.registry_http import registry_routes
from kpr_gateway.tenancy import load_tenants
from kpr_gateway.tenancy.credentials import load_tenant_credentials


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


async def test_certificates_are_compared_with_the_address_registry(world: DemoWorld) -> None:
    tenants = load_tenants(world.tenants_file)
    fhi = load_receiver_credentials(
        KeyFiles(world.fhi_file("sign.pem"), world.fhi_file("sign.key")),
        [KeyFiles(world.fhi_file("enc.pem"), world.fhi_file("enc.key"))],
    )
    # The registry knows Trondheim's certificates under Bergen's HER-id: a mismatch.
    bergen, trondheim = tenants.by_id("bergen"), tenants.by_id("trondheim")
    senders = [
        s for s in senders_from_tenants(tenants) if s.her_id == trondheim.communication_party.her_id
    ]
    trondheim_sender = senders[0]
    registry = simulated_registry(
        [
            trondheim_sender,
            known_sender(
                bergen.communication_party.her_id,
                trondheim_sender.signing_certificate,
                trondheim_sender.encryption_certificate,
            ),
        ],
        fhi,
    )
    app = Starlette(routes=registry_routes(registry))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        client = AddressRegistryClient("http://registry/registry", http=http)
        matching = await compare_with_registry(
            trondheim, load_tenant_credentials(trondheim), client
        )
        differing = await compare_with_registry(bergen, load_tenant_credentials(bergen), client)
    assert matching == [
        "signing: matches the Address Registry (HER-id 92002)",
        "encryption: matches the Address Registry (HER-id 92002)",
    ]
    assert all(line.startswith("error: ") for line in differing)
    assert "publishes another certificate for HER-id 91002" in differing[0]


def test_an_unreachable_registry_fails_the_check(world: DemoWorld) -> None:
    result = CliRunner().invoke(
        app,
        ["tenants", "check", str(world.tenants_file), "--registry-url", "http://127.0.0.1:1/r"],
    )
    assert result.exit_code == 1
    assert "error: signing: the Address Registry has no answer for HER-id 91002" in result.output
