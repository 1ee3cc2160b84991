"""The client against the simulator's registry (a real Starlette app): parties, queues,
certificates, unknown HER-ids, outages and credentials."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from kpr_gateway.registry import (
    AddressRegistryClient,
    CertificateNotFoundError,
    Operation,
    PartyNotFoundError,
    PartyType,
    QueueKind,
    RegistryAuthenticationError,
    RegistryUnavailableError,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage, RegistryParty
from tests.unit.registry.support import (
    FHI_HER_ID,
    KPR_VALIDATION,
    SENDER_ASYNC,
    SENDER_ERROR,
    SENDER_HER_ID,
    client_of,
    custom_registry,
    registry_app,
    standard_registry,
)


async def test_kpr_receiver_party_with_its_own_queues(pki: DevPki) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        party = await client.get_communication_party_details(KPR_VALIDATION)

    assert party.her_id == KPR_VALIDATION
    assert party.name == "KPR Validering"
    assert party.type is PartyType.SERVICE
    assert party.active
    assert party.valid_communication_party
    assert (party.parent_her_id, party.parent_name) == (FHI_HER_ID, "Folkehelseinstituttet")
    assert party.async_queue == f"{KPR_VALIDATION}_async"
    assert party.sync_queue == f"{KPR_VALIDATION}_sync"
    assert party.error_queue == f"{KPR_VALIDATION}_error"
    assert party.queue(QueueKind.ERROR) == party.error_queue
    assert party.inherited_queues == frozenset()


async def test_sender_party_and_a_whole_number_her_id(pki: DevPki) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        party = await client.get_communication_party_details(int(SENDER_HER_ID))

    assert party.her_id == SENDER_HER_ID
    assert (party.async_queue, party.error_queue, party.sync_queue) == (
        SENDER_ASYNC,
        SENDER_ERROR,
        None,
    )
    assert party.parent_her_id is None
    assert party.parent_name is None


async def test_organisation_without_queues(pki: DevPki) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        party = await client.get_communication_party_details(FHI_HER_ID)

    assert party.type is PartyType.ORGANIZATION
    assert (party.async_queue, party.sync_queue, party.error_queue) == (None, None, None)
    assert not party.valid_communication_party


async def test_queues_inherited_from_the_parent_are_flagged() -> None:
    registry = custom_registry(
        [
            RegistryParty(
                "70001",
                "Parent",
                PartyType.ORGANIZATION,
                async_queue="70001_async",
                error_queue="70001_error",
            ),
            RegistryParty(
                "70002",
                "Child",
                PartyType.SERVICE,
                parent_her_id="70001",
                error_queue="70002_error",
            ),
        ]
    )
    async with client_of(registry_app(registry)) as client:
        child = await client.get_communication_party_details("70002")

    assert child.async_queue == "70001_async"
    assert child.error_queue == "70002_error"
    assert child.inherited_queues == frozenset({QueueKind.ASYNC})


async def test_receiver_certificates_are_fhis_inherited_ones(pki: DevPki) -> None:
    fhi = pki.party("fhi")
    async with client_of(registry_app(standard_registry(pki))) as client:
        encryption = await client.get_certificate_details_for_encryption(KPR_VALIDATION)
        signing = await client.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    assert encryption.public_bytes(Encoding.DER) == fhi.encryption.certificate.public_bytes(
        Encoding.DER
    )
    assert signing == fhi.signing.certificate
    assert signing != encryption


async def test_sender_certificates(pki: DevPki) -> None:
    kommune = pki.party("kommune")
    async with client_of(registry_app(standard_registry(pki))) as client:
        assert await client.get_certificate_details_for_encryption(SENDER_HER_ID) == (
            kommune.encryption.certificate
        )
        assert await client.get_certificate_details_for_validating_signature(SENDER_HER_ID) == (
            kommune.signing.certificate
        )


async def test_unknown_her_id_is_party_not_found(pki: DevPki) -> None:
    async with client_of(registry_app(standard_registry(pki))) as client:
        with pytest.raises(PartyNotFoundError) as party_error:
            await client.get_communication_party_details("99999")
        with pytest.raises(PartyNotFoundError) as certificate_error:
            await client.get_certificate_details_for_encryption("99999")

    assert party_error.value.her_id == "99999"
    assert "99999" in str(party_error.value)
    assert "InvalidHerIdSupplied" not in str(party_error.value)
    assert certificate_error.value.her_id == "99999"


@pytest.mark.parametrize("her_id", ["abc", "0", "-4", "01017012345", "2147483648", " ", "12a"])
async def test_impossible_her_ids_are_refused_before_asking(pki: DevPki, her_id: str) -> None:
    registry = standard_registry(pki)
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(PartyNotFoundError) as caught:
            await client.get_communication_party_details(her_id)

    assert caught.value.her_id is None
    assert str(caught.value) == "not a HER-id (a positive whole number of up to 10 digits)"
    assert sum(registry.requests.values()) == 0


async def test_party_without_certificate(pki: DevPki) -> None:
    registry = custom_registry([RegistryParty("70003", "Bare", PartyType.SERVICE)])
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(CertificateNotFoundError) as caught:
            await client.get_certificate_details_for_validating_signature("70003")

    assert caught.value.her_id == "70003"


@pytest.mark.parametrize("outage", [Outage.UNAVAILABLE, Outage.FAULT])
async def test_outage_is_transient(pki: DevPki, outage: Outage) -> None:
    registry = standard_registry(pki)
    registry.outage = outage
    async with client_of(registry_app(registry)) as client:
        with pytest.raises(RegistryUnavailableError) as caught:
            await client.get_communication_party_details(KPR_VALIDATION)
        assert not await client.ping()

    assert KPR_VALIDATION in str(caught.value)
    expected = "Receiver/InternalServiceFault" if outage is Outage.FAULT else "HTTP 503"
    assert expected in str(caught.value)


async def test_ping(pki: DevPki) -> None:
    registry = standard_registry(pki)
    async with client_of(registry_app(registry)) as client:
        assert await client.ping()
    assert registry.requests[Operation.PING] == 1


async def test_basic_authentication(pki: DevPki) -> None:
    app = registry_app(standard_registry(pki, username="kprgw", password="s3cret"))
    async with client_of(app, username="kprgw", password="s3cret") as client:
        party = await client.get_communication_party_details(KPR_VALIDATION)
    assert party.her_id == KPR_VALIDATION

    for options in ({}, {"username": "kprgw", "password": "wrong"}):
        async with client_of(app, **options) as client:
            with pytest.raises(RegistryAuthenticationError) as caught:
                await client.get_communication_party_details(KPR_VALIDATION)
        assert "s3cret" not in str(caught.value)


def test_username_and_password_go_together() -> None:
    with pytest.raises(ValueError, match="together"):
        AddressRegistryClient(URL_EXAMPLE, username="kprgw")
    with pytest.raises(ValueError, match="positive"):
        AddressRegistryClient(URL_EXAMPLE, timeout=0)


URL_EXAMPLE = "https://ws-web.test.nhn.no/v1/AR"


async def test_closes_only_the_http_client_it_owns() -> None:
    own = AddressRegistryClient(URL_EXAMPLE)
    async with own:
        pass
    assert own._http.is_closed

    async with httpx.AsyncClient() as shared:
        async with AddressRegistryClient(URL_EXAMPLE, http=shared):
            pass
        assert not shared.is_closed
    assert own.base_url == URL_EXAMPLE
