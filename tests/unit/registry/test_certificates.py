"""Reading ``CertificateDetails``: DER in base64, or nothing, or something unusable."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from kpr_gateway.registry import RegistryResponseError
from kpr_gateway.registry.certificates import parse_certificate_details
from kpr_gateway.security.devpki import DevPki

D = "http://register.nhn.no/CertificateDetails"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def details(certificate: str) -> etree._Element:
    return etree.fromstring(
        f'<CertificateDetails xmlns="{D}" xmlns:i="{XSI}">{certificate}'
        "<LdapUrl>ldap://x</LdapUrl></CertificateDetails>"
    )


def test_base64_with_line_breaks(pki: DevPki) -> None:
    certificate = pki.party("fhi").encryption.certificate
    encoded = base64.encodebytes(certificate.public_bytes(Encoding.DER)).decode()
    assert "\n" in encoded

    assert parse_certificate_details(details(f"<Certificate>{encoded}</Certificate>")) == (
        certificate
    )


@pytest.mark.parametrize(
    "certificate",
    ["", '<Certificate i:nil="true"/>', "<Certificate/>", "<Certificate> </Certificate>"],
)
def test_no_certificate(certificate: str) -> None:
    assert parse_certificate_details(details(certificate)) is None


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        ("<Certificate>not*base64</Certificate>", "not valid base64"),
        ("<Certificate>AAAA</Certificate>", "not readable X.509"),
        (
            f"<Certificate>{base64.b64encode(b'hello world').decode()}</Certificate>",
            "not readable X.509",
        ),
    ],
)
def test_unusable_certificate(certificate: str, reason: str) -> None:
    with pytest.raises(RegistryResponseError, match=reason):
        parse_certificate_details(details(certificate))
