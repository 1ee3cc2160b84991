"""The Address Registry settings of envelope, dispatch and receipts, and the directory the
runtime makes of them: overrides only without a URL, else the registry cached in Redis."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.registry import (
    Operation,
    ReceiverUnresolvedError,
    RegistryAuthenticationError,
    RevocationMode,
    Source,
)
from kpr_gateway.runtime.registry import (
    RegistryServiceSettings,
    receiver_directory,
    registry_client,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, SimulatedRegistry
from kpr_gateway.tenancy import TenantsFile
from tests.support.outbound_world import bergen_entry, trondheim_entry, write_tenants
from tests.unit.runtime.registries import (
    KPR_VALIDATION_QUEUE_IN_REGISTRY,
    Endpoint,
    directory_over_asgi,
    kpr_registry,
    trust_bundle,
)

SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE


@pytest.fixture
def tenants(registry_pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen with an override (the ``fhi`` certificates), trondheim without one."""
    return write_tenants(registry_pki, tmp_path, [bergen_entry(), trondheim_entry(receiver=False)])


@pytest.mark.parametrize(
    ("settings_type", "prefix"),
    [
        (EnvelopeSettings, "KPRGW_ENVELOPE_"),
        (DispatchSettings, "KPRGW_DISPATCH_"),
        (ReceiptsSettings, "KPRGW_RECEIPTS_"),
    ],
)
def test_each_service_reads_the_registry_settings_from_its_environment(
    settings_type: type[BaseSettings],
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = tmp_path / "registry-password"
    password.write_text("hemmelig\n", encoding="utf-8")
    bundle = trust_bundle(tmp_path)
    monkeypatch.setenv(f"{prefix}TENANTS_FILE", str(tmp_path / "tenants.yaml"))
    unset = settings_type()
    assert isinstance(unset, RegistryServiceSettings)
    assert unset.registry_url is None
    assert unset.registry_cache_ttl_seconds == 3600
    assert registry_client("test", unset) is None

    monkeypatch.setenv(f"{prefix}REGISTRY_URL", "https://ws-web.test.nhn.no/v1/AR")
    monkeypatch.setenv(f"{prefix}REGISTRY_USERNAME", "kommune-4601")
    monkeypatch.setenv(f"{prefix}REGISTRY_PASSWORD_FILE", str(password))
    monkeypatch.setenv(f"{prefix}REGISTRY_CACHE_TTL_SECONDS", "600")
    monkeypatch.setenv(f"{prefix}REGISTRY_TRUST_BUNDLE_FILE", str(bundle))
    monkeypatch.setenv(f"{prefix}REGISTRY_CRL_TIMEOUT_SECONDS", "2.5")
    configured = settings_type()
    assert isinstance(configured, RegistryServiceSettings)
    assert configured.registry_url == "https://ws-web.test.nhn.no/v1/AR"
    assert configured.registry_username == "kommune-4601"
    assert configured.registry_password() == "hemmelig"
    assert configured.registry_cache_ttl_seconds == 600
    assert configured.registry_trust_bundle_file == bundle
    assert configured.registry_crl_timeout_seconds == 2.5
    assert configured.registry_receiver_org_number == "983744516"
    assert configured.revocation_mode() is RevocationMode.HARD_FAIL  # production mode

    monkeypatch.setenv(f"{prefix}MODE", "development")
    development = settings_type()
    assert isinstance(development, RegistryServiceSettings)
    assert development.revocation_mode() is RevocationMode.SOFT_FAIL
    monkeypatch.setenv(f"{prefix}REGISTRY_REVOCATION", "hard-fail")
    chosen = settings_type()
    assert isinstance(chosen, RegistryServiceSettings)
    assert chosen.revocation_mode() is RevocationMode.HARD_FAIL


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"registry_url": "ftp://ws-web.test.nhn.no/v1/AR"}, "http:// or https:// URL"),
        ({"registry_url": "https:///v1/AR"}, "http:// or https:// URL"),
        ({"registry_url": "https://user:pw@ws-web.test.nhn.no/v1/AR"}, "must not hold"),
        ({"registry_username": "kommune-4601"}, "go together"),
        ({"registry_password_file": "/nonexistent/password"}, "is not a file"),
        ({"registry_cache_ttl_seconds": 0}, "greater than 0"),
        ({"registry_timeout_seconds": -1}, "greater than 0"),
        ({"registry_crl_timeout_seconds": 0}, "greater than 0"),
        ({"registry_trust_bundle_file": "/nonexistent/bundle.pem"}, "is not a file"),
        ({"registry_receiver_org_number": "98374451"}, "should match pattern"),
        ({"registry_revocation": "never"}, "'hard-fail' or 'soft-fail'"),
        # The registry decides where messages go and whom to believe: a trust bundle...
        ({"registry_url": "https://ws-web.test.nhn.no/v1/AR"}, "needs registry_trust_bundle"),
    ],
)
def test_unusable_registry_settings_are_refused(
    options: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistryServiceSettings.model_validate({"tenants_file": tmp_path / "t.yaml", **options})


def test_the_registry_is_asked_over_https_unless_allowed(tmp_path: Path) -> None:
    # ...and HTTPS, unless a local registry is allowed explicitly.
    with pytest.raises(ValidationError, match="registry_url must be https://"):
        RegistryServiceSettings(
            tenants_file=tmp_path / "t.yaml",
            registry_url="http://registry.local/v1/AR",
            registry_trust_bundle_file=trust_bundle(tmp_path),
        )


def test_plain_http_is_allowed_when_asked_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = RegistryServiceSettings(
        tenants_file=tmp_path / "t.yaml",
        registry_url="http://127.0.0.1:8089/registry",
        registry_allow_insecure=True,
        registry_trust_bundle_file=trust_bundle(tmp_path),
    )
    with caplog.at_level(logging.WARNING, logger="kpr_gateway.runtime.registry"):
        client = registry_client("receipts", settings)
    assert client is not None
    assert "plain HTTP (registry_allow_insecure)" in caplog.text


async def test_an_unusable_trust_bundle_stops_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    settings = RegistryServiceSettings(
        tenants_file=tmp_path / "t.yaml",
        registry_url="https://ws-web.test.nhn.no/v1/AR",
        registry_trust_bundle_file=bundle,
    )
    client = registry_client("receipts", settings)
    assert client is not None
    try:
        with pytest.raises(SystemExit) as stopped:
            receiver_directory(settings, FakeAsyncRedis(), client, service_name="receipts")
    finally:
        await client.aclose()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"receipts: settings: registry_trust_bundle_file: trust bundle {bundle} holds no"
        " readable PEM certificates\n"
    )


def test_an_unreadable_password_file_stops_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = tmp_path / "registry-password"
    password.write_bytes(b"\xff\xfe not text")
    settings = RegistryServiceSettings(
        tenants_file=tmp_path / "t.yaml",
        registry_url="https://ws-web.test.nhn.no/v1/AR",
        registry_username="kommune-4601",
        registry_password_file=password,
        registry_trust_bundle_file=trust_bundle(tmp_path),
    )
    with pytest.raises(SystemExit) as stopped:
        registry_client("envelope", settings)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "envelope: settings: registry_password_file cannot be read (not UTF-8)\n"
    )


async def test_without_a_registry_only_overrides_are_served(
    tenants: TenantsFile, registry_pki: DevPki, tmp_path: Path
) -> None:
    directory = receiver_directory(
        RegistryServiceSettings(tenants_file=tmp_path / "t.yaml"), FakeAsyncRedis(), None
    )
    bergen = await directory.receiver(tenants.by_id("bergen"))
    assert bergen.source is Source.OVERRIDE
    assert bergen.encryption_certificate == registry_pki.party("fhi").encryption.certificate
    with pytest.raises(ReceiverUnresolvedError, match="tenant trondheim: no receiver_override"):
        await directory.receiver(tenants.by_id("trondheim"))


async def test_the_registry_serves_tenants_without_an_override_cached_in_redis(
    tenants: TenantsFile, registry_pki: DevPki, tmp_path: Path
) -> None:
    endpoint = Endpoint(kpr_registry(registry_pki))
    redis = FakeAsyncRedis()
    async with directory_over_asgi(
        endpoint,
        redis,
        tmp_path,
        trusted=[registry_pki],
        key_prefix="kprgw-t",
        registry_cache_ttl_seconds=600,
    ) as directory:
        trondheim = await directory.receiver(tenants.by_id("trondheim"))
        bergen = await directory.receiver(tenants.by_id("bergen"))
        asked = sum(endpoint.registry.requests.values())
        endpoint.registry.outage = Outage.UNAVAILABLE
        again = await directory.receiver(tenants.by_id("trondheim"))

    kpr = registry_pki.party("kpr")
    assert trondheim.source is Source.REGISTRY
    assert trondheim.encryption_certificate == kpr.encryption.certificate
    assert trondheim.signing_certificate == kpr.signing.certificate
    assert trondheim.async_queue == KPR_VALIDATION_QUEUE_IN_REGISTRY
    assert bergen.source is Source.OVERRIDE  # an override wins even with a registry
    assert again == trondheim  # from the cache: the registry was not asked again
    assert sum(endpoint.registry.requests.values()) == asked
    fresh_until = await redis.hget("kprgw-t:registry:cert:sig:171479", "fresh_until")
    assert fresh_until is not None
    assert float(fresh_until) - time.time() == pytest.approx(600, abs=30)


async def test_the_registry_credentials_are_sent(
    tenants: TenantsFile, registry_pki: DevPki, tmp_path: Path
) -> None:
    password = tmp_path / "registry-password"
    password.write_text("riktig\n", encoding="utf-8")
    keys = registry_pki.party("kpr")
    registry = kpr_registry(registry_pki)
    guarded = SimulatedRegistry(
        registry.parties.values(), username="kommune-4601", password="riktig"
    )
    trondheim = tenants.by_id("trondheim")
    async with directory_over_asgi(
        Endpoint(guarded),
        FakeAsyncRedis(),
        tmp_path,
        trusted=[registry_pki],
        registry_username="kommune-4601",
        registry_password_file=password,
    ) as directory:
        assert await directory.receiver_signing_certificate(trondheim) == keys.signing.certificate
    assert guarded.requests[SIGNING] == 1

    password.write_text("feil\n", encoding="utf-8")
    async with directory_over_asgi(
        Endpoint(guarded),
        FakeAsyncRedis(),
        tmp_path,
        registry_username="kommune-4601",
        registry_password_file=password,
    ) as directory:
        with pytest.raises(RegistryAuthenticationError):
            await directory.receiver_signing_certificate(trondheim)
