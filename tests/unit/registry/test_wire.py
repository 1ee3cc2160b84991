"""What goes on the wire: SOAP 1.2 envelope, WS-Addressing headers, the action in the media
type, the operation in its namespace, HTTP basic credentials."""

from __future__ import annotations

import base64

import pytest
from lxml import etree
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpr_gateway.registry import Operation
from kpr_gateway.registry.soap import build_request
from kpr_gateway.registry.wsdl import canonical_her_id, request_content_type
from kpr_gateway.security.devpki import DevPki
from tests.unit.registry.support import (
    KPR_VALIDATION,
    URL,
    client_of,
    registry_app,
    standard_registry,
)

S = "{http://www.w3.org/2003/05/soap-envelope}"
A = "{http://www.w3.org/2005/08/addressing}"
P = "{http://register.nhn.no/CommunicationParty}"
ACTION = "http://register.nhn.no/CommunicationParty/ICommunicationPartyService/"


@pytest.mark.parametrize("operation", list(Operation))
def test_request_envelope(operation: Operation) -> None:
    her_id = None if operation is Operation.PING else "93238"
    root = etree.fromstring(
        build_request(operation, to=URL, message_id="urn:uuid:42", her_id=her_id)
    )

    assert root.tag == f"{S}Envelope"
    header, body = list(root)
    assert header.tag == f"{S}Header"
    action = header.find(f"{A}Action")
    assert action is not None
    assert action.text == ACTION + operation.value
    assert action.get(f"{S}mustUnderstand") == "1"
    assert header.findtext(f"{A}MessageID") == "urn:uuid:42"
    assert header.findtext(f"{A}ReplyTo/{A}Address") == (
        "http://www.w3.org/2005/08/addressing/anonymous"
    )
    assert header.findtext(f"{A}To") == URL
    (call,) = list(body)
    assert call.tag == f"{P}{operation.value}"
    assert call.findtext(f"{P}herId") == her_id


def test_the_action_travels_in_the_media_type() -> None:
    assert request_content_type(Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION) == (
        f'application/soap+xml; charset=utf-8; action="{ACTION}GetCertificateDetailsForEncryption"'
    )
    assert Operation.from_action(ACTION + "GetCommunicationPartyDetails") is (
        Operation.GET_COMMUNICATION_PARTY_DETAILS
    )
    assert Operation.from_action(ACTION + "UpdateServiceDetails") is None
    assert Operation.from_action("urn:other:Ping") is None
    assert Operation.PING.response_action == ACTION + "PingResponse"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("93238", "93238"),
        (" 93238 ", "93238"),
        (93238, "93238"),
        ("2147483647", "2147483647"),
        ("2147483648", None),
        ("0", None),
        ("-1", None),
        ("0123", None),
        ("9e3", None),
        ("", None),
        ("\uff11\uff12\uff13", None),  # full-width digits,
    ],
)
def test_her_ids_are_the_registrys_xs_int(given: str | int, expected: str | None) -> None:
    assert canonical_her_id(given) == expected


def recording(app: ASGIApp, seen: list[tuple[dict[str, str], bytes]]) -> ASGIApp:
    """``app`` behind a recorder of each request's headers and body."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []

        async def recorder() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        await app(scope, recorder, send)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        seen.append((headers, b"".join(chunks)))

    return wrapper


async def test_what_the_client_sends(pki: DevPki) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []
    app = recording(registry_app(standard_registry(pki)), seen)
    async with client_of(app, username="kprgw", password="pass:word") as client:
        await client.get_certificate_details_for_validating_signature(KPR_VALIDATION)

    ((headers, body),) = seen
    assert headers["content-type"] == request_content_type(
        Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE
    )
    assert headers["authorization"] == "Basic " + base64.b64encode(b"kprgw:pass:word").decode()
    assert "soapaction" not in headers  # SOAP 1.1's header; 1.2 uses the media type
    root = etree.fromstring(body)
    assert root.findtext(f"{S}Header/{A}To") == URL
    message_id = root.findtext(f"{S}Header/{A}MessageID")
    assert message_id is not None
    assert message_id.startswith("urn:uuid:")
    assert (
        root.findtext(f"{S}Body/{P}GetCertificateDetailsForValidatingSignature/{P}herId")
        == KPR_VALIDATION
    )
