"""The development PKI's CRL support: distribution points in what it issues, the CA's CRL,
and a second PKI issuing from the first one's CA (one trust bundle for both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from kpr_gateway.security.devpki import DevPki

CRL_URL = "http://crl.example.invalid/dev-ca.crl"


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create([("fhi", "983744516"), ("kommune", "964338531")], crl_url=CRL_URL)


def test_issued_certificates_name_the_crl(pki: DevPki) -> None:
    assert pki.crl_url == CRL_URL
    for party in pki.parties:
        for credential in (party.signing, party.encryption):
            points = credential.certificate.extensions.get_extension_for_class(
                x509.CRLDistributionPoints
            ).value
            assert [name.value for point in points for name in point.full_name or ()] == [CRL_URL]
    with pytest.raises(x509.ExtensionNotFound):
        pki.ca.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def test_without_a_crl_url_no_distribution_point(dev_pki: DevPki) -> None:
    certificate = dev_pki.parties[0].signing.certificate
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def test_the_crl_is_the_cas_and_lists_what_is_revoked(pki: DevPki) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    revoked = pki.party("kommune").signing.certificate
    crl = x509.load_der_x509_crl(pki.crl([revoked], now=now, valid_for=timedelta(hours=6)))

    assert crl.issuer == pki.ca.certificate.subject
    assert crl.is_signature_valid(pki.ca.private_key.public_key())
    assert crl.next_update_utc == now + timedelta(hours=6)
    assert crl.last_update_utc <= now
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    other = pki.party("fhi").signing.certificate
    assert crl.get_revoked_certificate_by_serial_number(other.serial_number) is None


def test_only_the_cas_own_certificates_go_on_its_crl(pki: DevPki, dev_pki: DevPki) -> None:
    # The other PKI's CA has the same name: the signature tells them apart.
    with pytest.raises(ValueError, match="only certificates this CA issued"):
        pki.crl([dev_pki.parties[0].signing.certificate])


def test_a_second_pki_issues_from_the_first_ones_ca(pki: DevPki) -> None:
    second = DevPki.create([("kpr-next", "983744516")], ca=pki.ca, crl_url=CRL_URL)

    assert second.ca is pki.ca
    certificate = second.party("kpr-next").signing.certificate
    certificate.verify_directly_issued_by(pki.ca.certificate)
    crl = x509.load_der_x509_crl(pki.crl([certificate]))  # the first PKI revokes it
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


def test_a_crl_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="crl_url must be an http"):
        DevPki.create([("fhi", "983744516")], crl_url="ldap://ldap.example.invalid/ca")
