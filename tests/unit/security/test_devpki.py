"""The development PKI: what it issues and what it writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kpr_gateway.security.certs import (
    Credential,
    Usage,
    check_certificate,
    key_usages,
    load_certificate,
    load_pkcs12,
)
from kpr_gateway.security.devpki import CA_NAME, DevPki

Parties = tuple[tuple[str, str], ...]


def test_ca_is_a_self_signed_ca(dev_pki: DevPki) -> None:
    ca = dev_pki.ca.certificate
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert key_usages(ca) == ("keyCertSign", "cRLSign")
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_NAME


def test_parties_get_enterprise_style_certificates(dev_pki: DevPki, dev_parties: Parties) -> None:
    assert tuple((party.name, party.org_number) for party in dev_pki.parties) == dev_parties
    for party in dev_pki.parties:
        for credential in (party.signing, party.encryption):
            certificate = credential.certificate
            certificate.verify_directly_issued_by(dev_pki.ca.certificate)
            assert certificate.subject.rfc4514_string() == (
                f"2.5.4.5={party.org_number},CN={party.name},O={party.name},C=NO"
            )
            key = certificate.public_key()
            assert isinstance(key, rsa.RSAPublicKey)
            assert key.key_size == 2048
            assert not certificate.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value.ca
        assert key_usages(party.signing.certificate) == ("digitalSignature", "nonRepudiation")
        assert key_usages(party.encryption.certificate) == ("keyEncipherment", "dataEncipherment")
        check_certificate(party.signing.certificate, Usage.SIGNING)
        check_certificate(party.encryption.certificate, Usage.ENCRYPTION)


def test_validity_follows_valid_days() -> None:
    pki = DevPki.create([("kort", "123456785")], valid_days=2)
    certificate = pki.party("kort").signing.certificate
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days == 2


def test_write_produces_exactly_the_documented_files(
    dev_pki: DevPki, dev_parties: Parties, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "pki"
    written = dev_pki.write(out)
    expected = {"ca.pem"} | {
        f"{name}-{usage}.{ext}"
        for name, _ in dev_parties
        for usage in ("sign", "enc")
        for ext in ("pem", "key")
    }
    assert {path.name for path in written} == expected
    assert {path.name for path in out.iterdir()} == expected
    for path in out.glob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_certificate(out / "ca.pem") == dev_pki.ca.certificate
    fhi = Credential.from_pem_files(out / "fhi-enc.pem", out / "fhi-enc.key")
    assert fhi.certificate == dev_pki.party("fhi").encryption.certificate


def test_rewriting_tightens_existing_key_files(dev_pki: DevPki, tmp_path: Path) -> None:
    loose = tmp_path / "kommune-sign.key"
    loose.write_bytes(b"old")
    loose.chmod(0o644)
    dev_pki.write(tmp_path)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert loose.read_bytes() != b"old"


def test_pkcs12_helper_round_trips(dev_pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "kommune-sign.p12"
    path.write_bytes(dev_pki.pkcs12("kommune", Usage.SIGNING, b"pw"))
    assert load_pkcs12(path, b"pw").certificate == dev_pki.party("kommune").signing.certificate


@pytest.mark.parametrize(
    ("parties", "message"),
    [
        ([("a/b", "123456785")], "name must be"),
        ([("", "123456785")], "name must be"),
        ([("ok", "12345")], "9 digits"),
        ([("ok", "12345678x")], "9 digits"),
        ([("same", "123456785"), ("same", "983744516")], "unique"),
    ],
)
def test_bad_parties_are_refused(parties: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DevPki.create(parties)


def test_unknown_party_is_a_key_error(dev_pki: DevPki) -> None:
    with pytest.raises(KeyError):
        dev_pki.party("nobody")
