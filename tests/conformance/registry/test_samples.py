"""The client and parsers against NHN's real Address Registry answers (``ar-*.xml``).

``ar-get-communication-party-details-service-response.xml`` is a whole SOAP 1.2 answer and is
served as it is. The other two samples are the result payloads alone; served, they are put in
the envelope WCF wraps them in (``<Operation>Response/<Operation>Result``, the payload's
children unchanged), which is what the registry sends for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.registry import AddressRegistryClient, Operation, PartyType, QueueKind
from kpr_gateway.registry.certificates import parse_certificate_details
from kpr_gateway.registry.party import parse_communication_party
from tests.conformance.registry.wrapping import enveloped

SERVICE_ANSWER = "ar-get-communication-party-details-service-response.xml"
PERSON_PARTY = "ar-communication-party-93238.xml"
CERTIFICATE = "ar-certificate-details-encryption-93238.xml"
URL = "https://ws-web.test.nhn.no/v1/AR"
SOAP = "application/soap+xml; charset=utf-8"


def serving(answer: bytes, seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=answer, headers={"Content-Type": SOAP})

    return handler


@asynccontextmanager
async def sample_client(
    answer: bytes, seen: list[httpx.Request]
) -> AsyncIterator[AddressRegistryClient]:
    """A client whose HTTP answers with the sample's bytes, as the registry sent them."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(serving(answer, seen))) as http:
        yield AddressRegistryClient(URL, username="user", password="pw", http=http)


async def test_service_party_answer(samples_dir: Path) -> None:
    seen: list[httpx.Request] = []
    async with sample_client((samples_dir / SERVICE_ANSWER).read_bytes(), seen) as client:
        party = await client.get_communication_party_details(8094866)

    assert party.her_id == "8094866"
    assert party.name == "Meldingsvalidering"
    assert party.type is PartyType.SERVICE
    assert party.active
    assert party.valid_communication_party
    assert (party.parent_her_id, party.parent_name) == ("112374", "Norsk Helsenett SF")
    # The party has EDI, fax, mail and FHIR addresses, some inherited, but no AMQP queues.
    assert (party.async_queue, party.sync_queue, party.error_queue) == (None, None, None)
    assert (
        seen[0]
        .headers["content-type"]
        .endswith(f'action="{Operation.GET_COMMUNICATION_PARTY_DETAILS.action}"')
    )


async def test_person_party_with_queues(samples_dir: Path) -> None:
    seen: list[httpx.Request] = []
    answer = enveloped(
        (samples_dir / PERSON_PARTY).read_bytes(), Operation.GET_COMMUNICATION_PARTY_DETAILS
    )
    async with sample_client(answer, seen) as client:
        party = await client.get_communication_party_details("93238")

    assert party.her_id == "93238"
    assert party.type is PartyType.PERSON
    assert party.parent_her_id == "93237"
    assert party.async_queue == "93238_async"
    assert party.sync_queue == "93238_sync"
    assert party.error_queue == "93238_error"
    assert party.inherited_queues == frozenset()
    assert "Dahl" not in repr(party)


async def test_encryption_certificate_answer(samples_dir: Path) -> None:
    seen: list[httpx.Request] = []
    answer = enveloped(
        (samples_dir / CERTIFICATE).read_bytes(), Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION
    )
    async with sample_client(answer, seen) as client:
        certificate = await client.get_certificate_details_for_encryption("93238")

    assert_sample_certificate(certificate)
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_bare_samples_parse(samples_dir: Path) -> None:
    person = parse_communication_party(parse_xml((samples_dir / PERSON_PARTY).read_bytes()))
    certificate = parse_certificate_details(parse_xml((samples_dir / CERTIFICATE).read_bytes()))

    assert person.queue(QueueKind.ASYNC) == "93238_async"
    assert certificate is not None
    assert_sample_certificate(certificate)


def assert_sample_certificate(certificate: x509.Certificate) -> None:
    organisation = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [attribute.value for attribute in organisation] == ["HELSEDIREKTORATET"]
    assert certificate.serial_number == 0x10A2DC098EEB4FC80678
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.key_encipherment


@pytest.mark.parametrize("sample", [SERVICE_ANSWER, PERSON_PARTY, CERTIFICATE])
def test_samples_pass_the_safe_parser(samples_dir: Path, sample: str) -> None:
    assert parse_xml((samples_dir / sample).read_bytes()) is not None
