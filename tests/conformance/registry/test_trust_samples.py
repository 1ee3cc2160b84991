"""The trust checks on NHN's real certificate answer (``ar-certificate-details-encryption-93238
.xml``, a Buypass Class 3 Test4 enterprise certificate): its organisation number and CRL
distribution point are read as the real ones are written, and it is trusted only through a
bundle that holds its issuer (here none does: it is refused, without quoting its subject)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.registry import (
    CertificateTrust,
    CrlChecker,
    RevocationMode,
    UntrustedCertificateError,
    distribution_points,
    organisation_numbers,
)
from kpr_gateway.registry.certificates import parse_certificate_details
from kpr_gateway.security.devpki import DevPki

CERTIFICATE = "ar-certificate-details-encryption-93238.xml"
HELSEDIREKTORATET = "983544622"
WHILE_VALID = datetime(2016, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample(samples_dir: Path) -> x509.Certificate:
    certificate = parse_certificate_details(parse_xml((samples_dir / CERTIFICATE).read_bytes()))
    assert certificate is not None
    return certificate


def test_the_organisation_number_is_read_from_the_serial_number(sample: x509.Certificate) -> None:
    assert organisation_numbers(sample) == {HELSEDIREKTORATET}


def test_only_the_http_distribution_point_is_fetched(sample: x509.Certificate) -> None:
    # The certificate names an LDAP point too; only HTTP(S) points are fetched.
    assert distribution_points(sample) == ["http://crl.test4.buypass.no/crl/BPClass3T4CA3.crl"]


async def test_it_is_refused_without_its_issuer_in_the_bundle(sample: x509.Certificate) -> None:
    dev_ca = DevPki.create([]).ca.certificate
    requests: list[httpx.Request] = []

    def no_network(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_network)) as http:
        trust = CertificateTrust([dev_ca], CrlChecker(http, mode=RevocationMode.HARD_FAIL))
        with pytest.raises(UntrustedCertificateError, match="does not chain") as refused:
            await trust.verify(sample, organisation_number=HELSEDIREKTORATET, now=WHILE_VALID)

    assert "HELSEDIREKTORATET" not in str(refused.value)
    assert requests == []  # no CRL is fetched for a certificate that does not chain
