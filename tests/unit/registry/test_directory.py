"""ReceiverDirectory: a tenant's receiver and own queues, from its override or the registry."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kpr_gateway.registry import (
    CertificateRevokedError,
    Operation,
    PartyType,
    ReceiverDirectory,
    ReceiverUnresolvedError,
    RegistryUnavailableError,
    Source,
    TenantQueues,
    UntrustedCertificateError,
)
from kpr_gateway.security.certs import Usage
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, RegistryParty, SimulatedRegistry
from tests.unit.registry.support import (
    FHI_HER_ID,
    KPR_PRODUCTION,
    KPR_VALIDATION,
    SENDER_ASYNC,
    SENDER_ERROR,
    SENDER_HER_ID,
    client_of,
    custom_registry,
    registry_app,
    standard_registry,
    tenant,
    trusting_directory,
)


def override(pki_dir: Path, *, encryption: str = "fhi-enc.pem", **extra: str) -> dict[str, str]:
    return {
        "encryption_certificate": str(pki_dir / encryption),
        "signing_certificate": str(pki_dir / "fhi-sign.pem"),
        **extra,
    }


async def test_override_without_a_registry(pki: DevPki, pki_dir: Path, tmp_path: Path) -> None:
    bergen = tenant(tmp_path, receiver_override=override(pki_dir))
    receiver = await ReceiverDirectory().receiver(bergen)

    assert receiver.source is Source.OVERRIDE
    assert receiver.her_id == KPR_VALIDATION
    assert receiver.encryption_certificate == pki.party("fhi").encryption.certificate
    assert receiver.signing_certificate == pki.party("fhi").signing.certificate
    assert receiver.async_queue == f"{KPR_VALIDATION}_async"


async def test_override_wins_over_the_registry(pki: DevPki, pki_dir: Path, tmp_path: Path) -> None:
    bergen = tenant(tmp_path, receiver_override=override(pki_dir, async_queue="kpr_custom"))
    registry = standard_registry(pki)
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        directory = trusting_directory(client, pki)
        assert await directory.receiver_async_queue(bergen) == "kpr_custom"
        assert (await directory.receiver_encryption_certificate(bergen)) == (
            pki.party("fhi").encryption.certificate
        )
        assert (await directory.receiver_signing_certificate(bergen)) == (
            pki.party("fhi").signing.certificate
        )
    assert sum(registry.requests.values()) == 0


async def test_override_with_an_unfit_certificate(
    pki: DevPki, pki_dir: Path, tmp_path: Path
) -> None:
    bergen = tenant(tmp_path, receiver_override=override(pki_dir, encryption="fhi-sign.pem"))
    with pytest.raises(ReceiverUnresolvedError, match="keyEncipherment"):
        await ReceiverDirectory().receiver_encryption_certificate(bergen)


@pytest.mark.parametrize(
    ("environment", "her_id"), [("validation", KPR_VALIDATION), ("production", KPR_PRODUCTION)]
)
async def test_receiver_from_the_registry(
    pki: DevPki, tmp_path: Path, environment: str, her_id: str
) -> None:
    registry = standard_registry(pki)
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        receiver = await trusting_directory(client, pki).receiver(
            tenant(tmp_path, environment=environment)
        )

    assert receiver.source is Source.REGISTRY
    assert receiver.her_id == her_id
    assert receiver.async_queue == f"{her_id}_async"
    assert receiver.encryption_certificate == pki.party("fhi").encryption.certificate
    assert receiver.signing_certificate == pki.party("fhi").signing.certificate
    assert registry.requests[Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION] == 1
    assert registry.requests[Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE] == 1


async def test_registry_certificates_are_checked(pki: DevPki, tmp_path: Path) -> None:
    later = datetime(2100, 1, 1, tzinfo=UTC)
    async with client_of(registry_app(standard_registry(pki), crl=pki.crl())) as client:
        directory = trusting_directory(client, pki)
        with pytest.raises(ReceiverUnresolvedError, match="expired") as caught:
            await directory.receiver_signing_certificate(tenant(tmp_path), now=later)
    assert f"signing certificate of HER-id {KPR_VALIDATION} is unfit" in str(caught.value)


def kpr_with(pki: DevPki, party: str) -> SimulatedRegistry:
    """KPR Validering with ``party``'s certificates."""
    keys = pki.party(party)
    return custom_registry(
        [
            RegistryParty(
                KPR_VALIDATION,
                "KPR Validering",
                PartyType.SERVICE,
                async_queue="q",
                encryption_certificate=keys.encryption.certificate,
                signing_certificate=keys.signing.certificate,
            )
        ]
    )


async def test_a_registry_certificate_of_another_organisation_is_not_trusted(
    pki: DevPki, tmp_path: Path
) -> None:
    # ``other`` has a certificate from the same CA: valid, fit for signing, not FHI's.
    registry = kpr_with(pki, "other")
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        directory = trusting_directory(client, pki)
        with pytest.raises(UntrustedCertificateError) as refused:
            await directory.receiver_signing_certificate(tenant(tmp_path))
    assert str(refused.value) == (
        f"tenant bergen: the registry's signing certificate of HER-id {KPR_VALIDATION} is not"
        " trusted: it belongs to organisation number 974760673, not to 983744516"
    )
    assert isinstance(refused.value, ReceiverUnresolvedError)  # unfit, as an expired one


async def test_a_registry_certificate_of_another_issuer_is_not_trusted(
    pki: DevPki, tmp_path: Path
) -> None:
    stranger = DevPki.create([("fhi", "983744516")])
    async with client_of(registry_app(kpr_with(stranger, "fhi"), crl=pki.crl())) as client:
        with pytest.raises(UntrustedCertificateError, match="does not chain to an issuer"):
            await trusting_directory(client, pki).receiver_encryption_certificate(tenant(tmp_path))


async def test_a_revoked_registry_certificate_is_not_trusted(pki: DevPki, tmp_path: Path) -> None:
    revoked = pki.party("fhi").encryption.certificate
    async with client_of(registry_app(standard_registry(pki), crl=pki.crl([revoked]))) as client:
        directory = trusting_directory(client, pki)
        with pytest.raises(CertificateRevokedError, match=r"encryption certificate .* revoked"):
            await directory.receiver_encryption_certificate(tenant(tmp_path))
        # The signing certificate is not on the CRL.
        signing = await directory.receiver_signing_certificate(tenant(tmp_path))
    assert signing == pki.party("fhi").signing.certificate


async def test_the_receivers_organisation_number_is_a_setting(pki: DevPki, tmp_path: Path) -> None:
    async with client_of(registry_app(kpr_with(pki, "other"), crl=pki.crl())) as client:
        directory = trusting_directory(client, pki, receiver_org_number="974760673")
        signing = await directory.receiver_signing_certificate(tenant(tmp_path))
    assert signing == pki.party("other").signing.certificate


async def test_the_tenants_own_certificate_belongs_to_the_tenant(
    pki: DevPki, tmp_path: Path
) -> None:
    # The registry publishes ``kommune``'s certificates (958935420) for the tenant's party.
    async with client_of(registry_app(standard_registry(pki), crl=pki.crl())) as client:
        directory = trusting_directory(client, pki)
        own = tenant(tmp_path, org_number="958935420")
        published = await directory.tenant_certificate(own, Usage.ENCRYPTION)
        with pytest.raises(UntrustedCertificateError, match="not to 964338531"):
            await directory.tenant_certificate(tenant(tmp_path), Usage.SIGNING)  # bergen's
    assert published == pki.party("kommune").encryption.certificate


async def test_a_registry_without_trust_is_refused() -> None:
    async with client_of(registry_app(custom_registry([]))) as client:
        with pytest.raises(ValueError, match="need a CertificateTrust"):
            ReceiverDirectory(client)


async def test_registry_certificate_for_the_wrong_use(pki: DevPki, tmp_path: Path) -> None:
    fhi = pki.party("fhi")
    registry = custom_registry(
        [
            RegistryParty(
                KPR_VALIDATION,
                "KPR Validering",
                PartyType.SERVICE,
                async_queue="q",
                encryption_certificate=fhi.signing.certificate,
            )
        ]
    )
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        with pytest.raises(ReceiverUnresolvedError, match="lacks key usage keyEncipherment"):
            await trusting_directory(client, pki).receiver_encryption_certificate(tenant(tmp_path))


async def test_inactive_receiver(pki: DevPki, tmp_path: Path) -> None:
    registry = custom_registry(
        [
            RegistryParty(
                KPR_VALIDATION, "KPR Validering", PartyType.SERVICE, active=False, async_queue="q"
            )
        ]
    )
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        with pytest.raises(ReceiverUnresolvedError, match="not active"):
            await trusting_directory(client, pki).receiver_async_queue(tenant(tmp_path))


async def test_queue_from_the_parent_when_the_registry_does_not_inherit(
    pki: DevPki, tmp_path: Path
) -> None:
    registry = custom_registry(
        [
            RegistryParty(
                FHI_HER_ID,
                "Folkehelseinstituttet",
                PartyType.ORGANIZATION,
                async_queue="fhi_async",
                error_queue="fhi_error",
            ),
            RegistryParty(
                KPR_VALIDATION, "KPR Validering", PartyType.SERVICE, parent_her_id=FHI_HER_ID
            ),
        ],
        inherit=False,
    )
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        queue = await trusting_directory(client, pki).receiver_async_queue(tenant(tmp_path))

    assert queue == "fhi_async"
    assert registry.requests[Operation.GET_COMMUNICATION_PARTY_DETAILS] == 2


async def test_receiver_without_queues(pki: DevPki, tmp_path: Path) -> None:
    registry = custom_registry([RegistryParty(KPR_VALIDATION, "KPR", PartyType.SERVICE)])
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        with pytest.raises(ReceiverUnresolvedError, match="no E_SB_ASYNC queue"):
            await trusting_directory(client, pki).receiver_async_queue(tenant(tmp_path))


async def test_neither_override_nor_registry(tmp_path: Path) -> None:
    with pytest.raises(ReceiverUnresolvedError, match="no receiver_override and no Address"):
        await ReceiverDirectory().receiver(tenant(tmp_path))


async def test_registry_outage_reaches_the_caller(pki: DevPki, tmp_path: Path) -> None:
    registry = standard_registry(pki)
    registry.outage = Outage.UNAVAILABLE
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        with pytest.raises(RegistryUnavailableError):
            await trusting_directory(client, pki).receiver_async_queue(tenant(tmp_path))


async def test_own_queues_by_convention_without_a_registry(tmp_path: Path) -> None:
    queues = await ReceiverDirectory().tenant_queues(tenant(tmp_path))
    assert queues == TenantQueues(SENDER_HER_ID, f"{SENDER_HER_ID}_async", f"{SENDER_HER_ID}_error")


async def test_own_queues_configured_need_no_registry(pki: DevPki, tmp_path: Path) -> None:
    registry = standard_registry(pki)
    bergen = tenant(tmp_path, nhn={"async_queue": "mine_async", "error_queue": "mine_error"})
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        queues = await trusting_directory(client, pki).tenant_queues(bergen)
    assert (queues.async_queue, queues.error_queue) == ("mine_async", "mine_error")
    assert sum(registry.requests.values()) == 0


async def test_own_queues_from_the_registry(pki: DevPki, tmp_path: Path) -> None:
    async with client_of(registry_app(standard_registry(pki), crl=pki.crl())) as client:
        directory = trusting_directory(client, pki)
        registered = await directory.tenant_queues(tenant(tmp_path))
        mixed = await directory.tenant_queues(tenant(tmp_path, nhn={"async_queue": "mine"}))

    assert (registered.async_queue, registered.error_queue) == (SENDER_ASYNC, SENDER_ERROR)
    assert (mixed.async_queue, mixed.error_queue) == ("mine", SENDER_ERROR)


async def test_own_party_without_queues_falls_back_with_a_warning(
    pki: DevPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = custom_registry([RegistryParty(SENDER_HER_ID, "Saksbehandling", PartyType.SERVICE)])
    async with client_of(registry_app(registry, crl=pki.crl())) as client:
        with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.directory"):
            queues = await trusting_directory(client, pki).tenant_queues(tenant(tmp_path))

    assert queues.async_queue == f"{SENDER_HER_ID}_async"
    assert "naming convention" in caplog.text
    assert "Saksbehandling" not in caplog.text
