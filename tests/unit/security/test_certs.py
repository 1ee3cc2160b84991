"""Certificate and key loading, fitness checks and summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from kpr_gateway.security.certs import (
    Credential,
    Usage,
    certificate_summary,
    check_certificate,
    days_to_expiry,
    fingerprint,
    load_certificate,
    load_pkcs12,
    load_private_key,
    parse_certificate,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    KeyLoadError,
    SecurityError,
    WrongKeyUsageError,
)

PASSWORD = b"correct horse"


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def _issue(pki: DevPki, subject: x509.Name, key_usage: x509.KeyUsage | None) -> x509.Certificate:
    """A certificate from the dev CA for the kommune signing key, with chosen fields."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.ca.certificate.subject)
        .public_key(pki.party("kommune").signing.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(pki.ca.private_key, hashes.SHA256())


def _subject(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


@pytest.fixture(scope="module")
def written(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    dev_pki.write(directory)
    return directory


# --- loading -------------------------------------------------------------------------------


def test_certificate_loads_from_pem_and_der(dev_pki: DevPki, tmp_path: Path) -> None:
    cert = dev_pki.party("fhi").encryption.certificate
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "c.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    assert load_certificate(tmp_path / "c.pem") == cert
    assert load_certificate(str(tmp_path / "c.der")) == cert


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(CertificateError, match=r"not a readable X\.509 certificate"):
        parse_certificate(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError):
        parse_certificate(b"\x30\x03\x02\x01\x01")


def test_missing_certificate_file_is_a_certificate_error(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="cannot read certificate file"):
        load_certificate(tmp_path / "absent.pem")


def test_credential_from_pem_files(dev_pki: DevPki, written: Path) -> None:
    credential = Credential.from_pem_files(written / "fhi-enc.pem", written / "fhi-enc.key")
    assert credential.certificate == dev_pki.party("fhi").encryption.certificate
    assert credential.private_key.private_numbers() == (
        dev_pki.party("fhi").encryption.private_key.private_numbers()
    )


def test_encrypted_private_key_needs_the_right_password(dev_pki: DevPki, tmp_path: Path) -> None:
    key = dev_pki.party("kommune").signing.private_key
    path = tmp_path / "enc.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD),
        )
    )
    assert load_private_key(path, PASSWORD.decode()).private_numbers() == key.private_numbers()
    with pytest.raises(KeyLoadError, match="cannot load private key"):
        load_private_key(path, b"wrong")
    with pytest.raises(KeyLoadError):
        load_private_key(path)


def test_private_key_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="cannot read private key file"):
        load_private_key(tmp_path / "absent.key")
    (tmp_path / "junk.key").write_bytes(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(KeyLoadError):
        load_private_key(tmp_path / "junk.key")


def test_key_must_belong_to_the_certificate(dev_pki: DevPki) -> None:
    with pytest.raises(KeyLoadError, match="does not belong"):
        Credential(
            dev_pki.party("fhi").encryption.certificate,
            dev_pki.party("kommune").encryption.private_key,
        )


def test_pkcs12_with_password(dev_pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "fhi-enc.p12"
    path.write_bytes(dev_pki.pkcs12("fhi", Usage.ENCRYPTION, PASSWORD))
    contents = load_pkcs12(path, PASSWORD)
    expected = dev_pki.party("fhi").encryption
    assert contents.certificate == expected.certificate
    assert contents.private_key.private_numbers() == expected.private_key.private_numbers()
    assert contents.additional_certificates == (dev_pki.ca.certificate,)
    assert Credential.from_pkcs12(path, PASSWORD.decode()).certificate == expected.certificate


def test_pkcs12_wrong_password_is_a_key_load_error(dev_pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "fhi-enc.p12"
    path.write_bytes(dev_pki.pkcs12("fhi", Usage.ENCRYPTION, PASSWORD))
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_pkcs12(path, b"not it")
    with pytest.raises(KeyLoadError):
        Credential.from_pkcs12(tmp_path / "absent.p12", PASSWORD)


def test_credential_repr_shows_no_key_material(dev_pki: DevPki) -> None:
    credential = dev_pki.party("kommune").signing
    numbers = credential.private_key.private_numbers()
    text = repr(credential) + str(credential)
    assert "private_key" not in text
    assert str(numbers.d) not in text
    assert f"{numbers.p:x}" not in text


# --- fitness -------------------------------------------------------------------------------


def test_party_certificates_fit_their_usage(dev_pki: DevPki) -> None:
    party = dev_pki.party("kommune")
    check_certificate(party.signing.certificate, Usage.SIGNING)
    check_certificate(party.encryption.certificate, Usage.ENCRYPTION)


@pytest.mark.parametrize(
    ("credential_usage", "asked"),
    [(Usage.SIGNING, Usage.ENCRYPTION), (Usage.ENCRYPTION, Usage.SIGNING)],
)
def test_wrong_key_usage_is_refused(dev_pki: DevPki, credential_usage: Usage, asked: Usage) -> None:
    certificate = dev_pki.party("kommune").credential(credential_usage).certificate
    with pytest.raises(WrongKeyUsageError, match="lacks key usage"):
        check_certificate(certificate, asked)


def test_signing_needs_non_repudiation(dev_pki: DevPki) -> None:
    name = _subject((NameOID.COMMON_NAME, "x"))
    only_non_repudiation = _issue(dev_pki, name, _key_usage(content_commitment=True))
    only_digital_signature = _issue(dev_pki, name, _key_usage(digital_signature=True))
    without_key_usage = _issue(dev_pki, name, None)
    check_certificate(only_non_repudiation, Usage.SIGNING)
    with pytest.raises(WrongKeyUsageError, match="nonRepudiation"):
        check_certificate(only_digital_signature, Usage.SIGNING)
    with pytest.raises(WrongKeyUsageError, match=r"has: none"):
        check_certificate(without_key_usage, Usage.SIGNING)
    with pytest.raises(WrongKeyUsageError, match="keyEncipherment"):
        check_certificate(dev_pki.ca.certificate, Usage.ENCRYPTION)


def test_validity_dates_are_checked(dev_pki: DevPki) -> None:
    certificate = dev_pki.party("fhi").encryption.certificate
    after = certificate.not_valid_after_utc + timedelta(seconds=1)
    before = certificate.not_valid_before_utc - timedelta(seconds=1)
    with pytest.raises(CertificateExpiredError, match="expired"):
        check_certificate(certificate, Usage.ENCRYPTION, after)
    with pytest.raises(CertificateNotYetValidError, match="not valid before"):
        check_certificate(certificate, Usage.ENCRYPTION, before)
    check_certificate(certificate, Usage.ENCRYPTION, certificate.not_valid_after_utc)
    assert issubclass(CertificateExpiredError, CertificateError)
    assert issubclass(CertificateError, SecurityError)


def test_now_must_be_timezone_aware(dev_pki: DevPki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        days_to_expiry(dev_pki.ca.certificate, datetime(2030, 1, 1))


def test_days_to_expiry(dev_pki: DevPki) -> None:
    certificate = dev_pki.party("fhi").encryption.certificate
    end = certificate.not_valid_after_utc
    assert days_to_expiry(certificate, end - timedelta(days=10)) == 10
    assert days_to_expiry(certificate, end - timedelta(hours=23)) == 0
    assert days_to_expiry(certificate, end + timedelta(hours=1)) == -1
    assert 363 <= days_to_expiry(certificate) <= 365


# --- summary -------------------------------------------------------------------------------


def test_summary_of_a_party_certificate(dev_pki: DevPki) -> None:
    certificate = dev_pki.party("kommune").signing.certificate
    summary = certificate_summary(certificate)
    assert summary.subject_organisation == "kommune"
    assert summary.common_name == "kommune"
    assert summary.organisation_number == "123456785"
    assert summary.issuer_common_name == "KPR Gateway development CA"
    assert summary.key_usages == ("digitalSignature", "nonRepudiation")
    assert summary.not_after == certificate.not_valid_after_utc
    assert summary.serial_number == f"{certificate.serial_number:x}"
    assert summary.sha256_fingerprint == fingerprint(certificate)
    assert summary.sha256_fingerprint.replace(":", "").lower() == (
        certificate.fingerprint(hashes.SHA256()).hex()
    )


def test_summary_reads_seid2_organisation_identifier(dev_pki: DevPki) -> None:
    organisation_identifier = x509.ObjectIdentifier("2.5.4.97")
    subject = _subject(
        (NameOID.COUNTRY_NAME, "NO"),
        (NameOID.ORGANIZATION_NAME, "Testkommune"),
        (organisation_identifier, "NTRNO-964338531"),
    )
    certificate = _issue(dev_pki, subject, _key_usage(key_encipherment=True))
    summary = certificate_summary(certificate)
    assert summary.organisation_number == "964338531"
    assert summary.common_name is None
    assert summary.key_usages == ("keyEncipherment",)
