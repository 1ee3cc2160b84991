"""NHN accounts per tenant: one connection per account in use, the release's for the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.nhn.amqp import AmqpNhnTransport
from kpr_gateway.nhn.routing import RoutedTransport
from kpr_gateway.runtime.nhn import (
    RELEASE_ACCOUNT,
    NhnServiceSettings,
    amqp_transport,
    tenant_accounts,
)
from kpr_gateway.tenancy import TenancyError, TenantsFile, load_tenants

NHN_URL = "amqps://tb.test.nhn.no:5671/kpr"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


def with_accounts(world: DemoWorld, tmp_path: Path, accounts: dict[str, Any]) -> TenantsFile:
    """The world's tenants, some with NHN accounts of their own ({tenant: (user, password)})."""
    document = yaml.safe_load(world.tenants_file.read_text())
    for tenant in document["tenants"]:
        if tenant["id"] in accounts:
            username, password = accounts[tenant["id"]]
            secret = tmp_path / f"{tenant['id']}-nhn-password"
            secret.write_text(f"{password}\n", encoding="utf-8")
            tenant.setdefault("nhn", {}).update(username=username, password_file=str(secret))
    path = world.tenants_file.with_name(f"tenants-{tmp_path.name}.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_tenants(path)


def settings(tmp_path: Path, **options: Any) -> NhnServiceSettings:
    return NhnServiceSettings.model_validate(
        {
            "tenants_file": tmp_path / "t.yaml",
            "nhn_url": "amqps://tb.test.nhn.no:5671/kpr",
            **options,
        }
    )


def test_each_tenant_with_its_own_account_gets_a_connection(
    world: DemoWorld, tmp_path: Path
) -> None:
    tenants = with_accounts(
        world,
        tmp_path,
        {"bergen": ("bergen-4601", "pw-of-bergen"), "trondheim": ("trondheim-5001", "pw-of-trd")},
    )
    transport = amqp_transport("dispatch", settings(tmp_path), tenants)  # no release account
    assert isinstance(transport, RoutedTransport)
    assert transport.connection_names == ["account bergen-4601", "account trondheim-5001"]
    accounts = tenant_accounts(tenants.tenants)
    bergen = next(t for t in tenants.tenants if t.id == "bergen")
    assert accounts.senders[bergen.communication_party.her_id] == "account bergen-4601"
    assert accounts.queues[bergen.async_queue] == "account bergen-4601"
    assert accounts.queues[bergen.error_queue] == "account bergen-4601"
    assert "pw-of" not in repr(accounts)  # passwords stay out of reprs (and so of logs)


def test_tenants_without_an_account_share_the_releases(world: DemoWorld, tmp_path: Path) -> None:
    tenants = with_accounts(world, tmp_path, {"bergen": ("bergen-4601", "b")})
    transport = amqp_transport(
        "dispatch", settings(tmp_path, nhn_username="ikt-samarbeid"), tenants
    )
    assert isinstance(transport, RoutedTransport)
    assert transport.connection_names == ["account bergen-4601", RELEASE_ACCOUNT]


def test_one_shared_account_is_one_plain_connection(world: DemoWorld, tmp_path: Path) -> None:
    tenants = with_accounts(world, tmp_path, {})
    transport = amqp_transport("dispatch", settings(tmp_path, nhn_username="ikt"), tenants)
    assert isinstance(transport, AmqpNhnTransport)
    same_user = with_accounts(
        world, tmp_path, {"bergen": ("felles", "x"), "trondheim": ("felles", "x")}
    )
    routed = amqp_transport("dispatch", settings(tmp_path), same_user)
    assert isinstance(routed, RoutedTransport)
    assert routed.connection_names == ["account felles"]


def test_one_user_with_two_passwords_stops_the_service(
    world: DemoWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = with_accounts(
        world, tmp_path, {"bergen": ("felles", "first"), "trondheim": ("felles", "second")}
    )
    with pytest.raises(SystemExit) as stopped:
        amqp_transport("receipts", settings(tmp_path), tenants)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("receipts: settings: tenant trondheim: NHN user felles")
    assert "first" not in error
    assert "second" not in error


def test_an_account_needs_both_user_and_password(world: DemoWorld, tmp_path: Path) -> None:
    document = yaml.safe_load(world.tenants_file.read_text())
    document["tenants"][0].setdefault("nhn", {})["username"] = "only-a-user"
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(TenancyError, match="both username and password_file"):
        load_tenants(path)


def test_a_queue_claimed_over_two_accounts_stops_the_service(
    world: DemoWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Queue names are often inherited from a parent HER-id: one queue, one account."""
    document = yaml.safe_load(world.tenants_file.read_text())
    for tenant in document["tenants"]:
        tenant.setdefault("nhn", {})["async_queue"] = "shared_async"
    path = world.tenants_file.with_name("tenants-shared-queue.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    secret = tmp_path / "pw"
    secret.write_text("pw\n", encoding="utf-8")
    document["tenants"][0]["nhn"].update(username="bergen-4601", password_file=str(secret))
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(SystemExit) as stopped:
        amqp_transport("receipts", settings(tmp_path, nhn_username="ikt"), load_tenants(path))
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "queue shared_async is also tenant bergen's" in error
    assert "(account bergen-4601, not release account)" in error
