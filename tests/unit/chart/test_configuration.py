"""What the services are given: the tenants file (read by kpr_gateway.tenancy itself), the
tenants' Secrets mounted read-only where that file says and only where they are read, the
environment (read by each service's own settings class), and no secret in plain text."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kpr_gateway.tenancy import TenantsFile
from tests.unit.chart.rendering import (
    CI_VALUES_DIR,
    GATEWAY_SERVICES,
    Manifest,
    container,
    deployments,
    env_values,
    of_kind,
    pod_spec,
    render,
    render_text,
    walk,
)
from tests.unit.chart.service_settings import SETTINGS

VALUES_SETS = [(), *[(path.name,) for path in sorted(CI_VALUES_DIR.glob("*.yaml"))]]
TENANTS_FILE = "/etc/kprgw/tenants/tenants.yaml"
SECRET_WORDS = {"PASSWORD", "SECRET", "TOKEN", "CREDENTIALS"}

# Which of a tenant's files each service reads (kpr_gateway.tenancy.credentials and the
# services' build functions): transform pseudonymises, envelope signs and encrypts, dispatch
# addresses KPR, receipts decrypts AppRecs and verifies KPR's signature; dispatch and receipts
# connect to NHN with the tenant's own account, if it has one (kpr_gateway.runtime.nhn);
# webhooks signs with each EPJ client's webhook secret (kpr_gateway.tenancy.webhooks).
CERTIFICATES = ("certificates", "receiver_override")
READS: dict[str, tuple[str, ...]] = {
    "intake": (),
    "transform": ("pseudonym_secret_file", "test_persons_file"),
    "envelope": CERTIFICATES,
    "dispatch": ("receiver_override", "nhn"),
    "receipts": (*CERTIFICATES, "nhn"),
    "webhooks": ("epj_clients", "oauth"),
}


def tenants_file(manifests: list[Manifest]) -> TenantsFile | None:
    [configmap] = [
        m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-tenants")
    ]
    raw = yaml.safe_load(configmap["data"]["tenants.yaml"])
    if not raw["tenants"]:
        return None
    return TenantsFile.model_validate(raw)


def files_read(tenant_entry: dict[str, Any], service: str) -> set[str]:
    """The paths in one tenant's entry that ``service`` opens."""
    paths = set()
    for field in READS[service]:
        for _, value in walk(tenant_entry.get(field)):
            if isinstance(value, str) and value.startswith("/"):
                paths.add(value)
    return paths


def mounted_files(deployment: Manifest) -> dict[str, bool]:
    """Every file a container sees from a Secret, with whether its mount is read-only."""
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    files = {}
    for mount in container(deployment)["volumeMounts"]:
        volume = volumes[mount["name"]]
        for source in volume.get("projected", {}).get("sources", []):
            [(_, projected)] = source.items()  # a Secret's or a ConfigMap's
            for item in projected["items"]:
                path = str(PurePosixPath(mount["mountPath"]) / item["path"])
                files[path] = bool(mount.get("readOnly"))
    return files


@pytest.mark.parametrize("values", VALUES_SETS, ids=lambda v: v[0] if v else "defaults")
def test_the_tenants_file_is_one_the_gateway_reads(values: tuple[str, ...]) -> None:
    tenants = tenants_file(render(values))
    if values:
        assert tenants is not None
        assert all(t.pseudonym_secret_file.is_absolute() for t in tenants.tenants)
    else:
        assert tenants is None  # no tenants by default: NOTES.txt says so


@pytest.mark.parametrize("values", VALUES_SETS[1:], ids=lambda v: v[0])
def test_the_example_tenants_can_build_kpr_messages(values: tuple[str, ...]) -> None:
    # transform refuses to start without what a message says about its sender
    tenants = tenants_file(render(values))
    assert tenants is not None
    for tenant in tenants.tenants:
        tenant.require_reporting()


@pytest.mark.parametrize("values", VALUES_SETS[1:], ids=lambda v: v[0])
def test_each_service_mounts_exactly_the_tenant_files_it_reads(values: tuple[str, ...]) -> None:
    manifests = render(values)
    [configmap] = [
        m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-tenants")
    ]
    entries = yaml.safe_load(configmap["data"]["tenants.yaml"])["tenants"]
    for service, deployment in deployments(manifests).items():
        if service == "simulator":
            continue
        needed = set().union(*(files_read(entry, service) for entry in entries))
        mounted = mounted_files(deployment)
        tenant_files = {
            path for path in mounted if path.startswith("/var/run/secrets/kprgw/tenants/")
        }
        assert tenant_files == needed, service
        assert all(mounted.values()), f"{service}: a secret mount is writable"


def test_the_full_example_mounts_pkcs12_passwords_and_the_previous_key() -> None:
    receipts = mounted_files(deployments(render(("full-values.yaml",)))["receipts"])
    oslo = "/var/run/secrets/kprgw/tenants/oslo"
    assert f"{oslo}/previous-encryption.p12" in receipts
    assert f"{oslo}/previous-encryption.password" in receipts
    assert f"{oslo}/pseudonym.secret" not in receipts  # transform's alone


def test_webhook_secrets_are_mounted_into_webhooks_only() -> None:
    manifests = render(("full-values.yaml",))
    oslo = "/var/run/secrets/kprgw/tenants/oslo"
    secrets = {f"{oslo}/webhook-gerica-prod", f"{oslo}/webhook-visma-oslo"}
    for service, deployment in deployments(manifests).items():
        mounted = set(mounted_files(deployment))
        if service == "webhooks":
            assert secrets <= mounted
        else:
            assert not secrets & mounted, service
    tenants = tenants_file(manifests)
    assert tenants is not None
    [oslo_tenant] = [t for t in tenants.tenants if t.id == "oslo"]
    gerica = next(c for c in oslo_tenant.epj_clients if c.id == "gerica-prod")
    assert gerica.webhook is not None
    assert str(gerica.webhook.secret_file) == f"{oslo}/webhook-gerica-prod"
    assert gerica.webhook.url == "https://gerica.oslo.example.org/kpr/receipts"
    assert oslo_tenant.oauth is not None
    [visma] = oslo_tenant.oauth.clients
    assert visma.webhook is not None
    assert str(visma.webhook.secret_file) == f"{oslo}/webhook-visma-oslo"
    env = env_values(deployments(manifests)["webhooks"])
    assert env["KPRGW_WEBHOOKS_CA_FILE"]["value"] == "/var/run/secrets/kprgw/webhooks/ca.crt"


def test_the_registry_trust_bundle_reaches_the_services_that_use_the_registry() -> None:
    bundle = "/var/run/secrets/kprgw/registry/trust-bundle.pem"
    for service, deployment in deployments(render(("full-values.yaml",))).items():
        env = env_values(deployment)
        prefix = f"KPRGW_{service.upper()}_REGISTRY_"
        if service in {"envelope", "dispatch", "receipts"}:
            assert env[f"{prefix}TRUST_BUNDLE_FILE"]["value"] == bundle
            assert env[f"{prefix}REVOCATION"]["value"] == "hard-fail"
            assert env[f"{prefix}RECEIVER_ORG_NUMBER"]["value"] == "983744516"
            assert env[f"{prefix}CRL_TIMEOUT_SECONDS"]["value"] == "4"
            assert env[f"{prefix}ALLOW_INSECURE"]["value"] == "false"
            assert mounted_files(deployment)[bundle], service  # read-only
        else:  # the simulator's REGISTRY_* are those of the registry it serves
            assert f"{prefix}TRUST_BUNDLE_FILE" not in env, service
            assert bundle not in mounted_files(deployment), service


def test_nhn_credentials_reach_dispatch_and_receipts_only() -> None:
    for service, deployment in deployments(render(("full-values.yaml",))).items():
        mounted = mounted_files(deployment)
        has_nhn = {
            "/var/run/secrets/kprgw/nhn/password",
            "/var/run/secrets/kprgw/nhn/ca.crt",
        } <= set(mounted)
        assert has_nhn == (service in {"dispatch", "receipts"}), service


def test_a_tenant_with_its_own_nhn_account_names_it_in_the_tenants_file() -> None:
    tenants = tenants_file(render(("full-values.yaml",)))
    assert tenants is not None
    oslo, bergen = tenants.by_id("oslo"), tenants.by_id("bergen")
    assert oslo.nhn.username == "kprgw-oslo"
    assert oslo.nhn.password_file == Path("/var/run/secrets/kprgw/tenants/oslo/nhn.password")
    assert oslo.async_queue == "90002_async"  # the tenant's other nhn fields stay
    assert bergen.nhn.username is None  # the release's account
    assert bergen.nhn.password_file is None


def test_a_tenants_nhn_password_reaches_dispatch_and_receipts_only() -> None:
    password = "/var/run/secrets/kprgw/tenants/oslo/nhn.password"
    for service, deployment in deployments(render(("full-values.yaml",))).items():
        mounted = mounted_files(deployment)
        assert (password in mounted) == (service in {"dispatch", "receipts"}), service
        assert mounted.get(password, True), f"{service}: the NHN password is writable"
        assert not any(path.endswith("/nhn.password") and "/bergen/" in path for path in mounted)
        if password in mounted:
            volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "tenant-oslo")
            sources = [s["secret"] for s in volume["projected"]["sources"]]
            assert {
                "name": "oslo-nhn",
                "items": [{"key": "amqp-password", "path": "nhn.password"}],
            } in sources
            assert volume["projected"]["defaultMode"] == 0o440


def env_for_settings(deployment: Manifest, files: Path) -> dict[str, str]:
    """The container's variables as the process would see them; Secret references become
    stand-ins and mounted files become real files under ``files``."""
    env = {}
    for variable in container(deployment)["env"]:
        name = variable["name"]
        if "value" in variable:
            value = str(variable["value"])
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            value = "amqp://stand-in" if name.endswith("_URL") else "stand-in"
        else:
            continue  # fieldRef: set by the kubelet
        if value.startswith(("/var/run/secrets/", "/etc/kprgw/")):
            real = files / value.lstrip("/")
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_text("stand-in")
            value = str(real)
        env[name] = value
    return env


@pytest.mark.parametrize("values", VALUES_SETS, ids=lambda v: v[0] if v else "defaults")
def test_each_service_accepts_its_environment(
    values: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for service, deployment in deployments(render(values)).items():
        prefix = f"KPRGW_{service.upper()}_"
        env = env_for_settings(deployment, tmp_path / service)
        own = {name for name in env if name.startswith("KPRGW_")}
        assert all(name.startswith(prefix) for name in own), own
        fields = SETTINGS[service].model_fields
        unknown = {name for name in own if name[len(prefix) :].lower() not in fields}
        assert not unknown, f"{service} has no settings {unknown}"
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("KPRGW_")]:
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            settings = SETTINGS[service]()  # raises on a missing or malformed setting
        if service in GATEWAY_SERVICES:
            assert str(settings.model_dump()["tenants_file"]).endswith(TENANTS_FILE)


def test_settings_values_arrive_as_numbers_the_services_accept() -> None:
    intake = {
        v["name"]: v.get("value")
        for v in container(deployments(render(("full-values.yaml",)))["intake"])["env"]
    }
    # Helm reads numbers as floats: 33554432 must not arrive as 3.3554432e+07
    assert intake["KPRGW_INTAKE_MAX_BODY_BYTES"] == "33554432"
    transform = {
        v["name"]: v.get("value")
        for v in container(deployments(render(("full-values.yaml",)))["transform"])["env"]
    }
    assert transform["KPRGW_TRANSFORM_MAX_BATCH_AGE_SECONDS"] == "1.5"


@pytest.mark.parametrize("values", VALUES_SETS, ids=lambda v: v[0] if v else "defaults")
def test_no_secret_value_is_rendered(values: tuple[str, ...]) -> None:
    manifests = render(values)
    assert of_kind(manifests, "Secret") == []
    assert "PRIVATE KEY" not in render_text(values)
    for deployment in deployments(manifests).values():
        env = {variable["name"] for variable in container(deployment)["env"]}
        for variable in container(deployment)["env"]:
            name, value = variable["name"], variable.get("value")
            if name.endswith("REDIS_URL") and value is not None:
                # the bundled Redis' URL: the chart's own Service, its password in a file
                assert urlsplit(value).password is None, f"{name} carries a password"
                assert f"{name[: -len('URL')]}PASSWORD_FILE" in env, name
            elif name.endswith(("RABBITMQ_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_HEADERS")):
                assert "secretKeyRef" in variable["valueFrom"], name
            elif set(name.split("_")) & SECRET_WORDS or name.endswith("_KEY"):
                assert value is None or value.startswith("/"), f"{name} is not a file path"
            elif isinstance(value, str) and "://" in value:
                assert urlsplit(value).password is None, f"{name} carries a password"
