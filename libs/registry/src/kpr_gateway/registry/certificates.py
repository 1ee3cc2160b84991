"""``CertificateDetails`` answers: the DER certificate, base64 in ``Certificate``.

The certificate is returned as the registry holds it; whether it is fit for a use (key usage,
validity dates) is the caller's check (``kpr_gateway.security.certs.check_certificate``), so
an expired certificate can still be shown to an operator.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from lxml import etree

from kpr_gateway.registry.errors import RegistryResponseError
from kpr_gateway.registry.soap import is_nil
from kpr_gateway.registry.wsdl import CERTIFICATE_NS
from kpr_gateway.security.certs import parse_certificate
from kpr_gateway.security.errors import CertificateError


def certificate_der(details: etree._Element) -> bytes | None:
    """The DER bytes in a ``CertificateDetails`` element, or None if it holds none."""
    element = details.find(f"{{{CERTIFICATE_NS}}}Certificate")
    if element is None or is_nil(element):
        return None
    text = "".join((element.text or "").split())  # base64Binary allows whitespace
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RegistryResponseError("the certificate in the answer is not valid base64") from exc


def parse_certificate_details(details: etree._Element) -> x509.Certificate | None:
    """The X.509 certificate in a ``CertificateDetails`` element, or None if it holds none."""
    der = certificate_der(details)
    if der is None:
        return None
    return load_der(der)


def load_der(der: bytes) -> x509.Certificate:
    try:
        return parse_certificate(der)
    except CertificateError as exc:
        raise RegistryResponseError("the certificate in the answer is not readable X.509") from exc
