"""ReceiverDirectory: a tenant's receiver and own queues, from its override or the registry."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kpr_gateway.registry import (
    Operation,
    PartyType,
    ReceiverDirectory,
    ReceiverUnresolvedError,
    RegistryUnavailableError,
    Source,
    TenantQueues,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, RegistryParty
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
    async with client_of(registry_app(registry)) as client:
        directory = ReceiverDirectory(client)
        assert await directory.receiver_async_queue(bergen) == "kpr_custom"
        assert (await directory.receiver_encryption_certificate(bergen)) == (
            pki.party("fhi").encryption.certificate
        )
        assert (await directory.receiver_signing_certificate(bergen)) == (
            pki.party("fhi").signing.certificate
        )
    assert sum(registry.requests.values()) == 0


async def test_override_with_an_unfit_certificate(pki_dir: Path, tmp_path: Path) -> None:
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
    async with client_of(registry_app(registry)) as client:
        receiver = await ReceiverDirectory(client).receiver(
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
    async with client_of(registry_app(standard_registry(pki))) as client:
        directory = ReceiverDirectory(client)
        with pytest.raises(ReceiverUnresolvedError, match="expired") as caught:
            await directory.receiver_signing_certificate(tenant(tmp_path), now=later)
    assert f"signing certificate of HER-id {KPR_VALIDATION} is unfit" in str(caught.value)


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
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(ReceiverUnresolvedError, match="lacks key usage keyEncipherment"):
            await ReceiverDirectory(client).receiver_encryption_certificate(tenant(tmp_path))


async def test_inactive_receiver(tmp_path: Path) -> None:
    registry = custom_registry(
        [
            RegistryParty(
                KPR_VALIDATION, "KPR Validering", PartyType.SERVICE, active=False, async_queue="q"
            )
        ]
    )
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(ReceiverUnresolvedError, match="not active"):
            await ReceiverDirectory(client).receiver_async_queue(tenant(tmp_path))


async def test_queue_from_the_parent_when_the_registry_does_not_inherit(tmp_path: Path) -> None:
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
    async with client_of(registry_app(registry)) as client:
        queue = await ReceiverDirectory(client).receiver_async_queue(tenant(tmp_path))

    assert queue == "fhi_async"
    assert registry.requests[Operation.GET_COMMUNICATION_PARTY_DETAILS] == 2


async def test_receiver_without_queues(tmp_path: Path) -> None:
    registry = custom_registry([RegistryParty(KPR_VALIDATION, "KPR", PartyType.SERVICE)])
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(ReceiverUnresolvedError, match="no E_SB_ASYNC queue"):
            await ReceiverDirectory(client).receiver_async_queue(tenant(tmp_path))


async def test_neither_override_nor_registry(tmp_path: Path) -> None:
    with pytest.raises(ReceiverUnresolvedError, match="no receiver_override and no Address"):
        await ReceiverDirectory().receiver(tenant(tmp_path))


async def test_registry_outage_reaches_the_caller(pki: DevPki, tmp_path: Path) -> None:
    registry = standard_registry(pki)
    registry.outage = Outage.UNAVAILABLE
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(RegistryUnavailableError):
            await ReceiverDirectory(client).receiver_async_queue(tenant(tmp_path))


async def test_own_queues_by_convention_without_a_registry(tmp_path: Path) -> None:
    queues = await ReceiverDirectory().tenant_queues(tenant(tmp_path))
    assert queues == TenantQueues(SENDER_HER_ID, f"{SENDER_HER_ID}_async", f"{SENDER_HER_ID}_error")


async def test_own_queues_configured_need_no_registry(pki: DevPki, tmp_path: Path) -> None:
    registry = standard_registry(pki)
    bergen = tenant(tmp_path, nhn={"async_queue": "mine_async", "error_queue": "mine_error"})
    async with client_of(registry_app(registry)) as client:
        queues = await ReceiverDirectory(client).tenant_queues(bergen)
    assert (queues.async_queue, queues.error_queue) == ("mine_async", "mine_error")
    assert sum(registry.requests.values()) == 0


async def test_own_queues_from_the_registry(pki: DevPki, tmp_path: Path) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        directory = ReceiverDirectory(client)
        registered = await directory.tenant_queues(tenant(tmp_path))
        mixed = await directory.tenant_queues(tenant(tmp_path, nhn={"async_queue": "mine"}))

    assert (registered.async_queue, registered.error_queue) == (SENDER_ASYNC, SENDER_ERROR)
    assert (mixed.async_queue, mixed.error_queue) == ("mine", SENDER_ERROR)


async def test_own_party_without_queues_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = custom_registry([RegistryParty(SENDER_HER_ID, "Saksbehandling", PartyType.SERVICE)])
    async with client_of(registry_app(registry)) as client:
        with caplog.at_level(logging.WARNING, logger="kpr_gateway.registry.directory"):
            queues = await ReceiverDirectory(client).tenant_queues(tenant(tmp_path))

    assert queues.async_queue == f"{SENDER_HER_ID}_async"
    assert "naming convention" in caplog.text
    assert "Saksbehandling" not in caplog.text
