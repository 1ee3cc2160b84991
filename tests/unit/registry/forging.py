"""Certificates the development PKI does not make: the odd shapes a hostile registry answer (or
a swapped cache entry) could hold, and a two-level chain (root, issuing CA, enterprise
certificate) as Buypass and Commfides have it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kpr_gateway.security.certs import Credential

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
SIGNING_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
ENCRYPTION_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=True,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def name(common_name: str, *extra: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            *extra,
        ]
    )


def serial_number(value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(NameOID.SERIAL_NUMBER, value)


def organization_identifier(value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(ORGANIZATION_IDENTIFIER, value)


def issue(
    issuer: Credential,
    subject: x509.Name,
    *,
    ca: bool = False,
    crl_url: str | None = None,
    valid_days: int = 30,
    key_usage: x509.KeyUsage | None = SIGNING_USAGE,
) -> Credential:
    """A certificate for ``subject`` signed by ``issuer`` (a CA with ``ca``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = datetime.now(UTC) - timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.private_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    usage = _CA_USAGE if ca else key_usage
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if crl_url is not None:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    return Credential(builder.sign(issuer.private_key, hashes.SHA256()), key)


def self_signed_ca(common_name: str) -> Credential:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = name(common_name)
    start = datetime.now(UTC) - timedelta(hours=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Credential(certificate, key)


def crl_of(
    issuer: Credential,
    revoked: tuple[x509.Certificate, ...] = (),
    *,
    next_update: timedelta = timedelta(days=1),
    last_update: datetime | None = None,
) -> bytes:
    """``issuer``'s CRL (DER) listing ``revoked``; ``next_update`` after now (may be past)."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(last_update or now - timedelta(hours=1))
        .next_update(now + next_update)
    )
    for certificate in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(certificate.serial_number)
            .revocation_date(now - timedelta(minutes=5))
            .build()
        )
    return builder.sign(issuer.private_key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass(frozen=True)
class TwoLevelChain:
    """Root (in the bundle) -> issuing CA -> an FHI enterprise certificate, each below the
    root naming its issuer's CRL."""

    root: Credential
    issuing: Credential
    leaf: Credential


def two_level_chain(root_crl_url: str, issuing_crl_url: str) -> TwoLevelChain:
    root = self_signed_ca("Test Root CA")
    issuing = issue(root, name("Test Issuing CA"), ca=True, crl_url=root_crl_url)
    leaf = issue(issuing, name("FHI", serial_number("983744516")), crl_url=issuing_crl_url)
    return TwoLevelChain(root, issuing, leaf)
