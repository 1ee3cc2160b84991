"""The simulated registry's SOAP: requests read back from the gateway's client, answers read
by the gateway's parser (hypothesis round trips), and requests it refuses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kpr_gateway.registry import Operation, PartyType, QueueKind
from kpr_gateway.registry.certificates import parse_certificate_details
from kpr_gateway.registry.party import parse_communication_party
from kpr_gateway.registry.soap import SoapFault, build_request, parse_envelope, result_of
from kpr_gateway.registry.wsdl import request_content_type
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import RegistryParty, SimulatedRegistry
from kpr_gateway.simulator.registry_soap import (
    FaultCode,
    RegistryRequestError,
    UnsupportedMediaTypeError,
    certificate_answer,
    fault_answer,
    party_answer,
    read_request,
)

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
URL = "http://simulator:8080/registry"
her_ids = st.integers(min_value=1, max_value=2**31 - 1).map(str)
# XML 1.0 text: no control characters or surrogates; whitespace at the ends is not kept.
xml_text = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
queue_names = st.from_regex(r"[A-Za-z0-9_.-]{1,30}", fullmatch=True)


@settings(max_examples=50)
@given(st.sampled_from(list(Operation)), her_ids)
def test_requests_from_the_client_are_read_back(operation: Operation, her_id: str) -> None:
    asked = None if operation is Operation.PING else her_id
    body = build_request(operation, to=URL, message_id="urn:uuid:7", her_id=asked)

    request = read_request(body, request_content_type(operation))

    assert (request.operation, request.her_id, request.message_id) == (
        operation,
        asked,
        "urn:uuid:7",
    )


@st.composite
def registries(draw: st.DrawFn) -> tuple[SimulatedRegistry, RegistryParty]:
    parent = None
    if draw(st.booleans()):
        parent = RegistryParty(
            her_id=draw(her_ids),
            name=draw(xml_text),
            type=PartyType.ORGANIZATION,
            async_queue=draw(st.none() | queue_names),
            sync_queue=draw(st.none() | queue_names),
            error_queue=draw(st.none() | queue_names),
        )
    party = RegistryParty(
        her_id=draw(her_ids.filter(lambda value: parent is None or value != parent.her_id)),
        name=draw(xml_text),
        type=draw(st.sampled_from([PartyType.PERSON, PartyType.ORGANIZATION, PartyType.SERVICE])),
        parent_her_id=None if parent is None else parent.her_id,
        active=draw(st.booleans()),
        async_queue=draw(st.none() | queue_names),
        sync_queue=draw(st.none() | queue_names),
        error_queue=draw(st.none() | queue_names),
    )
    parties = [party] if parent is None else [parent, party]
    return SimulatedRegistry(parties, inherit=draw(st.booleans())), party


@settings(max_examples=50)
@given(registries())
def test_party_answers_read_back(drawn: tuple[SimulatedRegistry, RegistryParty]) -> None:
    registry, party = drawn
    parent = registry.parent(party)
    addresses = registry.addresses(party)
    answer = party_answer(party, addresses, parent, relates_to=None, now=NOW)

    payload = parse_envelope(answer)
    assert not isinstance(payload, SoapFault)
    result = result_of(payload, Operation.GET_COMMUNICATION_PARTY_DETAILS)
    assert result is not None
    read = parse_communication_party(result)

    assert (read.her_id, read.name, read.type, read.active) == (
        party.her_id,
        party.name,
        party.type,
        party.active,
    )
    assert read.parent_her_id == (parent.her_id if parent else None)
    assert read.parent_name == (parent.name if parent else None)
    served = {address.kind: address for address in addresses}
    for kind in QueueKind:
        expected = served.get(kind)
        assert read.queue(kind) == (None if expected is None else expected.address.split("/")[-1])
    assert read.inherited_queues == {kind for kind, a in served.items() if a.inherited}


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(
        [
            Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION,
            Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE,
        ]
    )
)
def test_certificate_answers_read_back(pki: DevPki, operation: Operation) -> None:
    certificate = pki.party("fhi").encryption.certificate
    for given_certificate in (certificate, None):
        payload = parse_envelope(
            certificate_answer(operation, given_certificate, relates_to="urn:uuid:1")
        )
        assert not isinstance(payload, SoapFault)
        result = result_of(payload, operation)
        read = None if result is None else parse_certificate_details(result)
        assert read == given_certificate
    der = certificate.public_bytes(Encoding.DER)
    assert base64.b64encode(der) in certificate_answer(operation, certificate, relates_to=None)


@pytest.mark.parametrize(
    ("code", "subcode", "error_code"),
    [
        ("Sender", None, "InvalidHerIdSupplied"),
        ("Receiver", "InternalServiceFault", None),
        ("VersionMismatch", None, None),
    ],
)
def test_faults_read_back(code: FaultCode, subcode: str | None, error_code: str | None) -> None:
    answer = fault_answer(
        code, "reason", subcode=subcode, error_code=error_code, operation=Operation.PING
    )
    fault = parse_envelope(answer)
    assert fault == SoapFault(code, (subcode,) if subcode else (), error_code)


def good(operation: Operation = Operation.GET_COMMUNICATION_PARTY_DETAILS) -> bytes:
    return build_request(operation, to=URL, message_id="urn:uuid:7", her_id="171479")


def replaced(old: bytes, new: bytes) -> bytes:
    body = good()
    assert old in body
    return body.replace(old, new)


@pytest.mark.parametrize(
    ("body", "content_type", "subcode", "reason"),
    [
        (
            good(),
            'application/soap+xml; action="http://register.nhn.no/CommunicationParty/'
            'ICommunicationPartyService/Ping"',
            "ActionNotSupported",
            "does not match",
        ),
        (
            replaced(
                b"ICommunicationPartyService/GetCommunicationPartyDetails<",
                b"ICommunicationPartyService/Search<",
            ),
            None,
            "ActionNotSupported",
            "does not match",
        ),
        (
            replaced(b"<GetCommunicationPartyDetails ", b"<Search ").replace(
                b"</GetCommunicationPartyDetails>", b"</Search>"
            ),
            None,
            "ActionNotSupported",
            "not served",
        ),
        (
            replaced(b"<herId>171479</herId>", b"<herId>abc</herId>"),
            None,
            "DeserializationFailed",
            "xs:int",
        ),
        (
            replaced(
                b"http://www.w3.org/2003/05/soap-envelope",
                b"http://schemas.xmlsoap.org/soap/envelope/",
            ),
            None,
            "VersionMismatch",
            "not a SOAP 1.2 envelope",
        ),
        (
            replaced(b'xmlns="http://register.nhn.no/CommunicationParty"', b'xmlns="urn:x"'),
            None,
            None,
            "no registry operation",
        ),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', None, None, "not accepted XML"),
    ],
)
def test_refused_requests(
    body: bytes, content_type: str | None, subcode: str | None, reason: str
) -> None:
    with pytest.raises(RegistryRequestError, match=reason) as caught:
        read_request(body, content_type or "application/soap+xml; charset=utf-8")
    assert caught.value.subcode == subcode


@pytest.mark.parametrize("content_type", [None, "text/xml; charset=utf-8", "application/xml"])
def test_only_soap_1_2_media(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        read_request(good(), content_type)


@pytest.mark.parametrize(
    ("text", "her_id"),
    [("0", None), ("-5", None), ("", None), ("2147483648", None), (" 171479 ", "171479")],
)
def test_numbers_that_name_no_party(text: str, her_id: str | None) -> None:
    body = replaced(b"<herId>171479</herId>", f"<herId>{text}</herId>".encode())
    assert read_request(body, "application/soap+xml").her_id == her_id
    missing = replaced(b"<herId>171479</herId>", b"")
    assert read_request(missing, "application/soap+xml").her_id is None


def test_answers_carry_the_addressing_headers() -> None:
    party = RegistryParty("70001", "P", PartyType.SERVICE)
    root = etree.fromstring(party_answer(party, [], None, relates_to="urn:uuid:9", now=NOW))
    a = "{http://www.w3.org/2005/08/addressing}"
    s = "{http://www.w3.org/2003/05/soap-envelope}"
    assert root.findtext(f"{s}Header/{a}Action") == (
        Operation.GET_COMMUNICATION_PARTY_DETAILS.response_action
    )
    assert root.findtext(f"{s}Header/{a}RelatesTo") == "urn:uuid:9"
