from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kpr_gateway.tenancy import (
    TargetEnvironment,
    TenantFileError,
    kpr_receiver,
    load_tenant,
    load_tenants,
    read_pseudonym_secret,
)

SECRET = b"0123456789abcdef0123456789abcdef-dev"


def bergen(**overrides: Any) -> dict[str, Any]:
    tenant: dict[str, Any] = {
        "id": "bergen",
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": "964338531",
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": "50002"},
        "environment": "validation",
        "pseudonym_secret_file": "secrets/bergen.key",
    }
    tenant.update(overrides)
    return tenant


def trondheim(**overrides: Any) -> dict[str, Any]:
    tenant = bergen(
        id="trondheim",
        municipality_number="5001",
        name="Trondheim kommune",
        org_number="942110464",
        her_id="60001",
        communication_party={"name": "Saksbehandling", "her_id": "60002"},
    )
    tenant.update(overrides)
    return tenant


def write(tmp_path: Path, document: Any) -> Path:
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "bergen.key").write_bytes(SECRET)
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_loads_tenants_and_resolves_paths_against_the_file(tmp_path: Path) -> None:
    tenants = load_tenants(write(tmp_path, {"tenants": [bergen(), trondheim()]}))

    first = tenants.by_id("bergen")
    assert first.environment is TargetEnvironment.VALIDATION
    assert first.pseudonym_secret_file == tmp_path.resolve() / "secrets" / "bergen.key"
    assert read_pseudonym_secret(first) == SECRET
    assert [t.id for t in tenants.tenants] == ["bergen", "trondheim"]


def test_sender_is_two_level_with_org_number(tmp_path: Path) -> None:
    tenant = load_tenant(write(tmp_path, bergen()))
    sender = tenant.sender_organisation()
    assert (sender.name, sender.her_id, sender.org_number) == (
        "Bergen kommune",
        "50001",
        "964338531",
    )
    assert sender.service is not None
    assert (sender.service.name, sender.service.her_id) == ("Saksbehandling", "50002")


@pytest.mark.parametrize(
    ("environment", "service_her_id"),
    [
        (TargetEnvironment.PRODUCTION, "122612"),
        (TargetEnvironment.VALIDATION, "171479"),
        (TargetEnvironment.COMMUNICATION_TEST, "8133973"),
    ],
)
def test_kpr_receiver_per_environment(environment: TargetEnvironment, service_her_id: str) -> None:
    receiver = kpr_receiver(environment)
    assert receiver.her_id == "85217"
    assert receiver.service is not None
    assert receiver.service.her_id == service_her_id


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            {"tenants": [bergen(), bergen(id="other", municipality_number="4602")]},
            "duplicate HER-id",
        ),
        ({"tenants": [bergen(), trondheim(id="bergen")]}, "duplicate tenant id"),
        ({"tenants": [bergen(), trondheim(municipality_number="4601")]}, "duplicate municipality"),
        ({"tenants": [bergen(org_number="964338532")]}, "mod-11"),
        ({"tenants": [bergen(municipality_number="461")]}, "municipality_number"),
        ({"tenants": [bergen(environment="prod")]}, "environment"),
        ({"tenants": [bergen(her_id="50002")]}, "its own HER-id"),
        ({"tenants": [bergen(surprise=1)]}, "surprise"),
        ({"tenants": []}, "tenants"),
        ("just text", "tenants"),
    ],
)
def test_invalid_tenants_file_names_the_problem(tmp_path: Path, document: Any, reason: str) -> None:
    with pytest.raises(TenantFileError, match=reason):
        load_tenants(write(tmp_path, document))


def test_certificates_need_pem_pair_or_pkcs12(tmp_path: Path) -> None:
    pem = {"certificate": "sign.pem", "key": "sign.key"}
    ok = bergen(certificates={"signing": pem, "encryption": {"pkcs12": "enc.p12"}})
    tenant = load_tenant(write(tmp_path, ok))
    assert tenant.certificates is not None
    assert tenant.certificates.signing.key == tmp_path.resolve() / "sign.key"

    half = bergen(certificates={"signing": {"certificate": "sign.pem"}, "encryption": pem})
    with pytest.raises(TenantFileError, match=r"certificates\.signing"):
        load_tenant(write(tmp_path, half))


def test_error_does_not_echo_values(tmp_path: Path) -> None:
    with pytest.raises(TenantFileError) as caught:
        load_tenants(write(tmp_path, {"tenants": [bergen(org_number="secret-ish")]}))
    assert "secret-ish" not in str(caught.value)


def test_unreadable_or_short_secret(tmp_path: Path) -> None:
    tenant = load_tenant(write(tmp_path, bergen(pseudonym_secret_file="missing.key")))
    with pytest.raises(TenantFileError, match="cannot be read"):
        read_pseudonym_secret(tenant)
    (tmp_path / "short.key").write_bytes(b"short")
    tenant = load_tenant(write(tmp_path, bergen(pseudonym_secret_file="short.key")))
    with pytest.raises(TenantFileError, match="shorter than 32 bytes"):
        read_pseudonym_secret(tenant)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(TenantFileError, match="cannot be read"):
        load_tenants(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tenants: [", encoding="utf-8")
    with pytest.raises(TenantFileError, match="not valid YAML"):
        load_tenants(broken)
