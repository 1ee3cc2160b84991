"""What we send, and what the simulator answers, against the WSDL's own data contracts.

The real service answer sample validates too, which shows the compiled contracts are the
registry's. (The older person sample does not: it carries a ``Departments`` element that the
current WSDL no longer declares; it is read, not validated.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.registry import Operation, PartyType
from kpr_gateway.registry.soap import build_request
from kpr_gateway.registry.wsdl import SOAP12_NS
from kpr_gateway.security.certs import Usage
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import RegistryParty
from kpr_gateway.simulator.registry_soap import (
    certificate_answer,
    fault_answer,
    party_answer,
    ping_answer,
    unknown_party_fault,
)
from tests.conformance.registry.wrapping import enveloped
from tests.unit.registry.support import FHI_HER_ID, KPR_VALIDATION, standard_registry

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
SERVICE_ANSWER = "ar-get-communication-party-details-service-response.xml"


def body_payload(envelope: bytes) -> etree._Element:
    root = etree.fromstring(envelope)
    assert root.tag == f"{{{SOAP12_NS}}}Envelope"
    body = root.find(f"{{{SOAP12_NS}}}Body")
    assert body is not None
    return body[0]


def assert_valid(contracts: etree.XMLSchema, element: etree._Element) -> None:
    assert contracts.validate(element), str(contracts.error_log)


def test_the_real_service_answer_is_valid(contracts: etree.XMLSchema, samples_dir: Path) -> None:
    assert_valid(contracts, body_payload((samples_dir / SERVICE_ANSWER).read_bytes()))


def test_contracts_catch_a_wrong_element(contracts: etree.XMLSchema, samples_dir: Path) -> None:
    payload = body_payload((samples_dir / SERVICE_ANSWER).read_bytes())
    result = payload[0]
    result.insert(0, etree.Element("{http://register.nhn.no/CommunicationParty}Unheard"))
    assert not contracts.validate(payload)


@pytest.mark.parametrize("operation", list(Operation))
def test_our_requests_are_valid(contracts: etree.XMLSchema, operation: Operation) -> None:
    her_id = None if operation is Operation.PING else "93238"
    request = build_request(operation, to="https://x/v1/AR", message_id="urn:uuid:1", her_id=her_id)
    assert_valid(contracts, body_payload(request))


@pytest.mark.parametrize("her_id", [KPR_VALIDATION, FHI_HER_ID, "50002"])
def test_simulated_party_answers_are_valid(
    contracts: etree.XMLSchema, pki: DevPki, her_id: str
) -> None:
    registry = standard_registry(pki)
    party = registry.party(her_id)
    assert party is not None
    answer = party_answer(
        party, registry.addresses(party), registry.parent(party), relates_to="urn:uuid:1", now=NOW
    )
    assert_valid(contracts, body_payload(answer))


def test_simulated_person_answer_is_valid(contracts: etree.XMLSchema) -> None:
    person = RegistryParty("93238", "Fastlege", PartyType.PERSON, async_queue="93238_async")
    answer = party_answer(person, [], None, relates_to=None, now=NOW)
    assert_valid(contracts, body_payload(answer))


@pytest.mark.parametrize(
    "operation",
    [
        Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION,
        Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE,
    ],
)
def test_simulated_certificate_answers_are_valid(
    contracts: etree.XMLSchema, pki: DevPki, operation: Operation
) -> None:
    registry = standard_registry(pki)
    party = registry.party(KPR_VALIDATION)
    assert party is not None
    certificate = registry.certificate(party, Usage.ENCRYPTION)
    assert_valid(
        contracts, body_payload(certificate_answer(operation, certificate, relates_to=None))
    )
    assert_valid(contracts, body_payload(certificate_answer(operation, None, relates_to=None)))


def test_simulated_ping_and_fault_detail_are_valid(contracts: etree.XMLSchema) -> None:
    assert_valid(contracts, body_payload(ping_answer(relates_to=None, now=NOW)))
    fault = body_payload(unknown_party_fault(Operation.GET_COMMUNICATION_PARTY_DETAILS, None))
    detail = fault.find(f"{{{SOAP12_NS}}}Detail")
    assert detail is not None
    assert_valid(contracts, detail[0])
    plain = body_payload(fault_answer("Receiver", "down"))
    assert plain.find(f"{{{SOAP12_NS}}}Detail") is None


def test_the_older_person_sample_has_an_undeclared_element(
    contracts: etree.XMLSchema, samples_dir: Path
) -> None:
    answer = enveloped(
        (samples_dir / "ar-communication-party-93238.xml").read_bytes(),
        Operation.GET_COMMUNICATION_PARTY_DETAILS,
    )
    assert not contracts.validate(body_payload(answer))
    errors = [error.message for error in contracts.error_log]  # type: ignore[attr-defined]
    assert len(errors) == 1
    assert "Departments" in errors[0]
