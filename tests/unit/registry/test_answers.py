"""How the client reads answers that are not the happy path: faults, wrong content, wrong
party, sizes, timeouts and refused connections. Each answer comes from a real HTTP app."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kpr_gateway.registry import (
    AddressRegistryClient,
    Operation,
    PartyNotFoundError,
    PartyType,
    RegistryAuthenticationError,
    RegistryFaultError,
    RegistryResponseError,
    RegistryUnavailableError,
)
from kpr_gateway.registry.soap import MAX_RESPONSE_BYTES
from kpr_gateway.simulator.registry import RegistryParty
from kpr_gateway.simulator.registry_soap import fault_answer, party_answer
from tests.unit.registry.servers import closed_port_url, fixed_app, silent_server
from tests.unit.registry.support import client_of

SOAP = "application/soap+xml; charset=utf-8"
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)


async def test_a_sender_fault_is_final_and_keeps_its_codes() -> None:
    fault = fault_answer(
        "Sender",
        "Kari Nordmann is not allowed here",  # a reason text may quote a person
        subcode="ActionNotSupported",
        error_code="SomethingElse",
        operation=Operation.GET_COMMUNICATION_PARTY_DETAILS,
    )
    async with client_of(fixed_app(fault, status=500, media_type=SOAP)) as client:
        with pytest.raises(RegistryFaultError) as caught:
            await client.get_communication_party_details("70001")

    error = caught.value
    assert (error.code, error.subcodes, error.error_code) == (
        "Sender",
        ("ActionNotSupported",),
        "SomethingElse",
    )
    assert "Sender/ActionNotSupported (SomethingElse)" in str(error)
    assert "Kari" not in str(error)


async def test_a_fault_with_status_400_is_read_the_same() -> None:
    fault = fault_answer("Sender", "bad request", subcode="DeserializationFailed")
    async with client_of(fixed_app(fault, status=400, media_type=SOAP)) as client:
        with pytest.raises(RegistryFaultError, match="DeserializationFailed"):
            await client.get_certificate_details_for_encryption("70001")


async def test_a_security_fault_is_an_authentication_error() -> None:
    fault = fault_answer("Sender", "denied", subcode="FailedAuthentication")
    async with client_of(fixed_app(fault, status=500, media_type=SOAP)) as client:
        with pytest.raises(RegistryAuthenticationError):
            await client.get_communication_party_details("70001")


async def test_fault_codes_that_are_not_tokens_are_left_out() -> None:
    fault = fault_answer("Sender", "x", error_code="01017012345 Kari Nordmann")
    async with client_of(fixed_app(fault, status=500, media_type=SOAP)) as client:
        with pytest.raises(RegistryFaultError) as caught:
            await client.get_communication_party_details("70001")
    assert caught.value.error_code is None
    assert "Kari" not in str(caught.value)


async def test_the_answer_must_be_for_the_her_id_asked() -> None:
    other = party_answer(
        RegistryParty("70009", "Other", PartyType.SERVICE), [], None, relates_to=None, now=NOW
    )
    async with client_of(fixed_app(other, media_type=SOAP)) as client:
        with pytest.raises(
            RegistryResponseError, match="asked for HER-id 70001, the answer is for 70009"
        ):
            await client.get_communication_party_details("70001")


async def test_the_answer_must_be_for_the_operation_asked() -> None:
    party = party_answer(
        RegistryParty("70001", "P", PartyType.SERVICE), [], None, relates_to=None, now=NOW
    )
    async with client_of(fixed_app(party, media_type=SOAP)) as client:
        with pytest.raises(
            RegistryResponseError, match="GetCertificateDetailsForEncryptionResponse"
        ):
            await client.get_certificate_details_for_encryption("70001")


@pytest.mark.parametrize(
    ("status", "content", "media_type", "error"),
    [
        (200, b"<html><body>Log in</body></html>", "text/html", RegistryResponseError),
        (404, b"Not Found", "text/plain", RegistryResponseError),
        (502, b"<html>Bad Gateway", "text/html", RegistryUnavailableError),
        (504, b"", None, RegistryUnavailableError),
        (429, b"slow down", "text/plain", RegistryUnavailableError),
        (500, b"<s:Envelope", SOAP, RegistryUnavailableError),
        (200, b"<s:Envelope", SOAP, RegistryResponseError),
        (200, b"", SOAP, RegistryResponseError),
        (401, b"", None, RegistryAuthenticationError),
        (403, b"Forbidden", "text/plain", RegistryAuthenticationError),
    ],
)
async def test_http_answers_without_a_usable_envelope(
    status: int, content: bytes, media_type: str | None, error: type[Exception]
) -> None:
    async with client_of(fixed_app(content, status=status, media_type=media_type)) as client:
        with pytest.raises(error):
            await client.get_communication_party_details("70001")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soap:Body/></soap:Envelope>",
            "SOAP 1.1",
        ),
        (b"<Envelope/>", "not a SOAP 1.2 envelope"),
        (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', "no SOAP Body"),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            b"<!-- nothing --></s:Body></s:Envelope>",
            "empty SOAP Body",
        ),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            b"<s:Fault/></s:Body></s:Envelope>",
            "no Code",
        ),
    ],
)
async def test_envelopes_that_are_not_soap_1_2_answers(content: bytes, reason: str) -> None:
    async with client_of(fixed_app(content, media_type=SOAP)) as client:
        with pytest.raises(RegistryResponseError, match=reason):
            await client.get_communication_party_details("70001")


async def test_a_nil_result_means_no_such_party() -> None:
    nil = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<GetCommunicationPartyDetailsResponse xmlns="http://register.nhn.no/CommunicationParty">'
        b'<GetCommunicationPartyDetailsResult i:nil="true"'
        b' xmlns:i="http://www.w3.org/2001/XMLSchema-instance"/>'
        b"</GetCommunicationPartyDetailsResponse></s:Body></s:Envelope>"
    )
    async with client_of(fixed_app(nil, media_type=SOAP)) as client:
        with pytest.raises(PartyNotFoundError, match="no communication party has HER-id 70001"):
            await client.get_communication_party_details("70001")


async def test_an_oversized_answer_is_refused_while_reading() -> None:
    huge = b"<a>" + b" " * (MAX_RESPONSE_BYTES + 1) + b"</a>"
    async with client_of(fixed_app(huge, media_type=SOAP)) as client:
        with pytest.raises(RegistryResponseError, match="exceeds"):
            await client.get_communication_party_details("70001")


async def test_no_answer_within_the_timeout() -> None:
    async with silent_server() as url, AddressRegistryClient(url, timeout=0.2) as client:
        with pytest.raises(RegistryUnavailableError, match=r"no answer within 0\.2 s"):
            await client.get_communication_party_details("70001")


async def test_nobody_listening() -> None:
    async with AddressRegistryClient(closed_port_url(), timeout=2) as client:
        with pytest.raises(RegistryUnavailableError, match="cannot be reached"):
            await client.get_communication_party_details("70001")
        assert not await client.ping()
